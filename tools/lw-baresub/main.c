/*
 * main.c - lw-baresub: a bare QoS 1 subscriber that only counts.
 *
 * The benchmark's upper limit: it receives what lienwatchd would receive,
 * the same way (libmosquitto, one thread, QoS 1, fixed client id, clean
 * session off, PUBACK per message), and does nothing with it. Whatever
 * rate it reaches is what the broker and the MQTT client library allow on
 * this machine; lienwatchd's ingest rate is judged against it.
 *
 * Output: "ready" on stdout once the subscription is acknowledged (a
 * script starts publishing after that), then at exit one human line on
 * stderr and one key=value line on stdout:
 *   received=N seconds=S rate=R first_ms=T last_ms=T cpu_s=C maxrss_kib=K
 * seconds runs from the first message received to the last; first_ms and
 * last_ms are wall-clock (Unix ms) so that a script can measure from its
 * own start instead; cpu_s and maxrss_kib are this process's CPU time and
 * peak resident size, for the benchmark table. Exit status: 0 when --count
 * messages arrived (or, with no --count, on SIGINT/SIGTERM or --timeout), 1 on
 * a broker problem or a
 * --count not reached in time, 2 for bad options.
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

#define PROG "lw-baresub"

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 1883
#define DEFAULT_TOPIC "owntracks/#"
#define DEFAULT_QOS 1
#define DEFAULT_CLIENT_ID "lw-baresub"
/* Give up after this long without reaching --count. */
#define DEFAULT_TIMEOUT_S 120.0
#define MQTT_KEEPALIVE_S 60
#define CONNECT_WAIT_MS 10000
/* Poll timeout: how often the deadline and the signals are checked. */
#define POLL_MS 100
/* mosquitto_loop_misc (keepalive pings) at most this often. */
#define MISC_INTERVAL_MS 1000
/* Most mosquitto_loop_read calls in one go (each reads about a packet). */
#define READ_BURST_MAX 4096
/* SUBACK return code for a refused subscription (MQTT 3.1.1 and 5). */
#define SUBACK_FAILURE 0x80
#define MS_PER_S 1000
#define US_PER_S 1e6
#define NS_PER_MS 1000000
#define EXIT_USAGE 2

/* Options and state. */
struct baresub {
    const char *host; /* broker */
    int port;
    const char *topic;      /* subscription pattern */
    int qos;                /* subscription QoS */
    const char *client_id;  /* fixed id: the session persists */
    bool clean;             /* --clean-session */
    uint64_t count;         /* stop after this many; 0 = no limit */
    double timeout_s;       /* stop after this long */
    bool quiet;             /* -q */
    struct mosquitto *mosq; /* the client */
    uint64_t received;      /* messages seen */
    uint64_t events;        /* callbacks run: progress of a read */
    int64_t first_mono_ms;  /* first message, monotonic */
    int64_t last_mono_ms;   /* last message, monotonic */
    int64_t first_wall_ms;  /* the same on the wall clock */
    int64_t last_wall_ms;
    bool connected;  /* CONNACK accepted, not lost since */
    bool subscribed; /* SUBACK seen */
    bool lost;       /* connection lost unexpectedly */
    int connack_rc;  /* last CONNACK code, -1 none yet */
};

static volatile sig_atomic_t stop_requested;

/* SIGINT/SIGTERM: finish and print what was counted. Only sets a flag. */
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Returns a clock in milliseconds. */
static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

/* User plus system CPU time in ru, seconds. */
static double cpu_seconds(const struct rusage *ru)
{
    return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) +
           (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / US_PER_S;
}

/* clang-format off: the help text is laid out as it prints */
/* Prints --help to f. */
static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: " PROG " [OPTION]...\n"
        "Count MQTT messages as fast as they arrive: the benchmark's upper "
        "limit.\n"
        "\n"
        "  --host HOST        broker address (default " DEFAULT_HOST ")\n"
        "  --port PORT        broker port (default %d)\n"
        "  --topic PATTERN    subscription (default " DEFAULT_TOPIC ")\n"
        "  --qos N            subscription QoS 0, 1 or 2 (default %d)\n"
        "  --client-id ID     MQTT client id (default " DEFAULT_CLIENT_ID
        "); the\n"
        "                     session is persistent (clean session off)\n"
        "  --clean-session    start a clean session instead\n"
        "  -c, --count N      exit once N messages arrived\n"
        "  --timeout S        give up after S seconds (default %.0f)\n"
        "  -q, --quiet        no human summary on stderr\n"
        "  -h, --help         this help\n"
        "\n"
        "Prints \"ready\" on stdout once subscribed, and at exit:\n"
        "  received=N seconds=S rate=R first_ms=T last_ms=T cpu_s=C "
        "maxrss_kib=K\n"
        "(seconds from the first message to the last; T in Unix milliseconds;\n"
        "C this process's CPU seconds; K its peak resident size).\n"
        "Exit status: 0 done, 1 --count not reached or broker problem, 2 "
        "usage.\n",
        DEFAULT_PORT, DEFAULT_QOS, DEFAULT_TIMEOUT_S);
}
/* clang-format on */

/* Parses a whole unsigned integer in [min, max]. */
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

/* Long-only options. */
enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_TOPIC,
    OPT_QOS,
    OPT_CLIENT_ID,
    OPT_CLEAN,
    OPT_TIMEOUT,
};

/* Parses argv into *b. Returns -1 to go on, or an exit code. */
static int parse_args(int argc, char **argv, struct baresub *b)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"qos", required_argument, NULL, OPT_QOS},
        {"client-id", required_argument, NULL, OPT_CLIENT_ID},
        {"clean-session", no_argument, NULL, OPT_CLEAN},
        {"count", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t u;
    char *end;
    int c;

    while ((c = getopt_long(argc, argv, "c:qh", longopts, NULL)) != -1) {
        const char *bad = NULL;

        switch (c) {
        case OPT_HOST:
            b->host = optarg;
            break;
        case OPT_PORT:
            if (!parse_u64(optarg, 1, UINT16_MAX, &u))
                bad = "--port wants 1..65535";
            b->port = (int)u;
            break;
        case OPT_TOPIC:
            b->topic = optarg;
            break;
        case OPT_QOS:
            if (!parse_u64(optarg, 0, 2, &u))
                bad = "--qos wants 0, 1 or 2";
            b->qos = (int)u;
            break;
        case OPT_CLIENT_ID:
            b->client_id = optarg;
            break;
        case OPT_CLEAN:
            b->clean = true;
            break;
        case 'c':
            if (!parse_u64(optarg, 1, UINT64_MAX, &b->count))
                bad = "--count wants a positive integer";
            break;
        case OPT_TIMEOUT:
            errno = 0;
            b->timeout_s = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(b->timeout_s) ||
                b->timeout_s <= 0)
                bad = "--timeout wants seconds > 0";
            break;
        case 'q':
            b->quiet = true;
            break;
        case 'h':
            usage(stdout);
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
    return -1;
}

/* on_connect: subscribe on every (re)connection. */
static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct baresub *b = obj;

    b->events++;
    b->connack_rc = rc;
    if (rc != 0) {
        fprintf(stderr, PROG ": broker refused the connection: %s\n",
                mosquitto_connack_string(rc));
        return;
    }
    b->connected = true;
    rc = mosquitto_subscribe(mosq, NULL, b->topic, b->qos);
    if (rc != MOSQ_ERR_SUCCESS)
        fprintf(stderr, PROG ": subscribe: %s\n", mosquitto_strerror(rc));
}

/* on_subscribe: the SUBACK; from now on the broker keeps our messages. */
static void on_subscribe(struct mosquitto *mosq, void *obj, int mid,
                         int qos_count, const int *granted_qos)
{
    struct baresub *b = obj;

    (void)mosq;
    (void)mid;
    b->events++;
    if (qos_count < 1 || granted_qos[0] >= SUBACK_FAILURE) {
        fprintf(stderr, PROG ": broker refused the subscription to %s\n",
                b->topic);
        return;
    }
    if (!b->subscribed) {
        b->subscribed = true;
        printf("ready\n");
        fflush(stdout);
    }
}

/* on_message: count; the payload is not even looked at. */
static void on_message(struct mosquitto *mosq, void *obj,
                       const struct mosquitto_message *msg)
{
    struct baresub *b = obj;
    int64_t now = clock_ms(CLOCK_MONOTONIC);

    (void)mosq;
    (void)msg;
    b->events++;
    if (b->received == 0) {
        b->first_mono_ms = now;
        b->first_wall_ms = clock_ms(CLOCK_REALTIME);
    }
    b->received++;
    b->last_mono_ms = now;
    /* One wall-clock read per message would cost more than all the rest;
     * the last one is derived from the monotonic clock at exit. */
}

/* on_disconnect: note an unexpected loss. */
static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    struct baresub *b = obj;

    (void)mosq;
    b->events++;
    b->connected = false;
    if (rc != 0) {
        b->lost = true;
        fprintf(stderr, PROG ": connection lost: %s\n", mosquitto_strerror(rc));
    }
}

/* Waits up to timeout_ms for the socket and services it once. */
static void service(struct baresub *b, int timeout_ms, int64_t *last_misc_ms)
{
    struct pollfd pfd = {.fd = mosquitto_socket(b->mosq), .events = POLLIN};
    int64_t now;

    if (pfd.fd < 0)
        return;
    if (mosquitto_want_write(b->mosq))
        pfd.events |= POLLOUT;
    if (poll(&pfd, 1, timeout_ms) > 0 &&
        (pfd.revents & (POLLIN | POLLERR | POLLHUP))) {
        /* libmosquitto 2.0 may return after one packet; read on while the
         * calls make progress. */
        for (int i = 0; i < READ_BURST_MAX; i++) {
            uint64_t before = b->events;

            if (mosquitto_loop_read(b->mosq, 1) != MOSQ_ERR_SUCCESS ||
                b->events == before || mosquitto_socket(b->mosq) < 0 ||
                (b->count && b->received >= b->count))
                break;
        }
    }
    if (mosquitto_socket(b->mosq) >= 0 && mosquitto_want_write(b->mosq))
        mosquitto_loop_write(b->mosq, 1);
    now = clock_ms(CLOCK_MONOTONIC);
    if (now - *last_misc_ms >= MISC_INTERVAL_MS) {
        mosquitto_loop_misc(b->mosq);
        *last_misc_ms = now;
    }
}

int main(int argc, char **argv)
{
    struct baresub b = {
        .host = DEFAULT_HOST,
        .port = DEFAULT_PORT,
        .topic = DEFAULT_TOPIC,
        .qos = DEFAULT_QOS,
        .client_id = DEFAULT_CLIENT_ID,
        .timeout_s = DEFAULT_TIMEOUT_S,
        .connack_rc = -1,
    };
    struct sigaction sa = {.sa_handler = on_signal};
    int64_t start, deadline, last_misc = 0;
    struct rusage ru;
    double secs, rate;
    int rc, exit_code = EXIT_FAILURE;

    rc = parse_args(argc, argv, &b);
    if (rc >= 0)
        return rc;

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    mosquitto_lib_init();
    b.mosq = mosquitto_new(b.client_id, b.clean, &b);
    if (!b.mosq) {
        fprintf(stderr, PROG ": mosquitto_new: %s\n", strerror(errno));
        goto out_lib;
    }
    mosquitto_connect_callback_set(b.mosq, on_connect);
    mosquitto_subscribe_callback_set(b.mosq, on_subscribe);
    mosquitto_message_callback_set(b.mosq, on_message);
    mosquitto_disconnect_callback_set(b.mosq, on_disconnect);

    rc = mosquitto_connect(b.mosq, b.host, b.port, MQTT_KEEPALIVE_S);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, PROG ": cannot connect to %s:%d: %s\n", b.host, b.port,
                rc == MOSQ_ERR_ERRNO ? strerror(errno)
                                     : mosquitto_strerror(rc));
        goto out_destroy;
    }

    start = clock_ms(CLOCK_MONOTONIC);
    deadline = start + (int64_t)(b.timeout_s * MS_PER_S);
    for (;;) {
        int64_t now = clock_ms(CLOCK_MONOTONIC);

        if (b.count && b.received >= b.count) {
            exit_code = EXIT_SUCCESS;
            break;
        }
        if (stop_requested || now >= deadline) {
            /* Without --count, stopping is how the run ends. */
            exit_code = b.count ? EXIT_FAILURE : EXIT_SUCCESS;
            if (b.count)
                fprintf(stderr,
                        PROG ": stopped at %" PRIu64 " of %" PRIu64
                             " messages\n",
                        b.received, b.count);
            break;
        }
        if (b.lost || b.connack_rc > 0 ||
            (!b.subscribed && now - start > CONNECT_WAIT_MS)) {
            fprintf(stderr, PROG ": no usable connection to %s:%d\n", b.host,
                    b.port);
            break;
        }
        service(&b, POLL_MS, &last_misc);
    }

    secs = b.received > 1
               ? (double)(b.last_mono_ms - b.first_mono_ms) / MS_PER_S
               : 0;
    rate = secs > 0 ? (double)b.received / secs : 0;
    b.last_wall_ms = b.first_wall_ms + (b.last_mono_ms - b.first_mono_ms);
    if (!b.quiet)
        fprintf(stderr,
                PROG ": received %" PRIu64 " messages in %.3f s"
                     " (%.0f msgs/s)\n",
                b.received, secs, rate);
    getrusage(RUSAGE_SELF, &ru);
    printf("received=%" PRIu64 " seconds=%.3f rate=%.0f first_ms=%" PRId64
           " last_ms=%" PRId64 " cpu_s=%.3f maxrss_kib=%ld\n",
           b.received, secs, rate, b.first_wall_ms, b.last_wall_ms,
           cpu_seconds(&ru), ru.ru_maxrss);
    fflush(stdout);

    if (b.connected) {
        mosquitto_disconnect(b.mosq);
        if (mosquitto_socket(b.mosq) >= 0)
            mosquitto_loop_write(b.mosq, 1);
    }
out_destroy:
    mosquitto_destroy(b.mosq);
out_lib:
    mosquitto_lib_cleanup();
    return exit_code;
}
