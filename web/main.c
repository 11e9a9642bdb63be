/*
 * main.c - lienwatch-web: options, configuration, the listening socket, TLS
 * material, signals, and the loop.
 *
 * Start-up refuses what would be unsafe rather than warn about it: a
 * listen address that is not loopback without TLS (unless
 * allow_plain_http = yes), a certificate without its key, a database that
 * does not carry the schema this build reads. Exit status: 0 stopped,
 * 1 start-up error, 2 usage, 78 invalid configuration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/log.h"
#include "web.h"

#ifndef LW_VERSION
#define LW_VERSION "0.0.0"
#endif
#ifndef LWW_STATIC_DIR
#define LWW_STATIC_DIR "/usr/local/share/lienwatch/web"
#endif

#define EXIT_CONFIG 78
#define MAX_OVERRIDES 64
/* Largest certificate or key file read, bytes. */
#define PEM_MAX (1024 * 1024)
/* Sessions swept and streams checked this often, s. */
#define SWEEP_INTERVAL_S 1.0

struct override {
    char section[32];
    char key[64];
    const char *value;
};

static struct override overrides[MAX_OVERRIDES];
static int noverrides;

static void usage(FILE *f)
{
    fputs("Usage: lienwatch-web [OPTION]...\n"
          "Serve lienwatch's web page and JSON API to field agents and\n"
          "operations staff: cases, vehicles, near me, locate now, live\n"
          "updates, with every look at a location recorded.\n"
          "\n"
          "  -c, --config FILE       read settings from FILE (the [web]\n"
          "                          section; [store] db; [alerts])\n"
          "      --db PATH           SQLite database (store.db)\n"
          "      --listen HOST:PORT  address to listen on (web.listen)\n"
          "      --set SECTION.KEY=VALUE\n"
          "                          set any configuration key; repeatable\n"
          "      --check-config      check the configuration and exit\n"
          "      --dump-config       print an example configuration and exit\n"
          "  -v, --verbose           log more (repeat for debug)\n"
          "  -q, --quiet             log errors and warnings only\n"
          "  -h, --help              show this help and exit\n"
          "  -V, --version           show the version and exit\n"
          "\n"
          "Plain HTTP is served only on a loopback address (behind a reverse\n"
          "proxy that terminates TLS) unless web.allow_plain_http = yes; set\n"
          "web.certfile and web.keyfile for HTTPS. SIGTERM or SIGINT stops.\n"
          "Exit status: 0 stopped, 1 start-up error, 2 usage, 78 invalid\n"
          "configuration.\n"
          "\n"
          "Full documentation: lienwatch-web(8); settings: "
          "lienwatchd.conf(5).\n",
          f);
}

static int add_override(const char *section, const char *key,
                        const char *value)
{
    struct override *o;

    if (noverrides >= MAX_OVERRIDES) {
        fprintf(stderr, "lienwatch-web: too many --set options\n");
        return -1;
    }
    o = &overrides[noverrides++];
    snprintf(o->section, sizeof(o->section), "%s", section ? section : "");
    snprintf(o->key, sizeof(o->key), "%s", key);
    o->value = value;
    return 0;
}

static int parse_set(char *arg)
{
    char *eq = strchr(arg, '=');
    char *dot;

    if (!eq) {
        fprintf(stderr,
                "lienwatch-web: --set '%s': expected SECTION.KEY=VALUE\n",
                arg);
        return -1;
    }
    *eq = '\0';
    dot = strchr(arg, '.');
    if (dot) {
        *dot = '\0';
        return add_override(arg, dot + 1, eq + 1);
    }
    return add_override(NULL, arg, eq + 1);
}

/* Prints each line of text with the program's prefix. */
static void print_lines(const char *text)
{
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        fprintf(stderr, "lienwatch-web: %.*s\n", (int)len, p);
        p += len + (p[len] == '\n');
    }
}

static int load_config(struct lww *w)
{
    char err[LW_CONFIG_ERR_MAX], why[LW_CONFIG_ERR_MAX];
    bool bad = false;

    lw_config_defaults(&w->cfg);
    if (w->config_path &&
        lw_config_load(&w->cfg, w->config_path, err, sizeof(err)) != LW_OK) {
        print_lines(err);
        return -1;
    }
    for (int i = 0; i < noverrides; i++) {
        const struct override *o = &overrides[i];
        if (lw_config_set(&w->cfg, o->section[0] ? o->section : NULL, o->key,
                          o->value, why, sizeof(why)) != LW_OK) {
            fprintf(stderr, "lienwatch-web: command line: %s\n", why);
            bad = true;
        }
    }
    if (bad)
        return -1;
    if (lw_config_check(&w->cfg, why, sizeof(why)) != LW_OK) {
        print_lines(why);
        return -1;
    }
    return 0;
}

/* Reads a PEM file whole (NUL-terminated, owned). NULL (logged) on error. */
static char *read_pem(const char *what, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    char *buf = NULL;
    ssize_t got;

    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        sb.st_size <= 0 || sb.st_size > PEM_MAX) {
        lwrt_log(LOG_ERR, "web.%s: cannot read %s: %s", what, path,
                 fd < 0 ? strerror(errno) : "not a regular file of 1 B-1 MiB");
        goto out;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf)
        goto out;
    got = read(fd, buf, (size_t)sb.st_size);
    if (got != sb.st_size) {
        lwrt_log(LOG_ERR, "web.%s: short read of %s", what, path);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[got] = '\0';
out:
    if (fd >= 0)
        close(fd);
    return buf;
}

/*
 * The zone of [places] timezone ("" : the system's) into *out. 0, or -1
 * (logged) when a configured zone cannot be read; an unreadable system
 * zone is UTC, with a warning.
 */
static int load_zone(const char *zone, struct lw_tz **out)
{
    char err[LW_CONFIG_ERR_MAX] = "";

    if (lw_tz_load(zone, out, err, sizeof(err)) == LW_OK)
        return 0;
    if (zone[0]) {
        lwrt_log(LOG_ERR, "[places] timezone %s: %s", zone, err);
        return -1;
    }
    lwrt_log(LOG_WARNING,
             "the system's time zone cannot be read (%s): places use UTC "
             "(set [places] timezone)",
             err);
    return lw_tz_load("UTC", out, err, sizeof(err)) == LW_OK ? 0 : -1;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

/*
 * Opens the listening socket of web.listen ("HOST:PORT", "[v6]:PORT"; an
 * empty host or "*" is every address). Refuses a non-loopback address
 * without TLS unless allow_plain_http. 0 or -1 (logged).
 */
static int open_listener(struct lww *w)
{
    char host[LW_CONFIG_STR_MAX + 1];
    const char *spec = w->cfg.web_listen, *colon = strrchr(spec, ':');
    const char *port = colon + 1;
    struct addrinfo hints = {0}, *res = NULL, *ai;
    bool plain_ok = strcmp(w->cfg.web_allow_plain_http, "yes") == 0;
    int rc, fd = -1, one = 1;

    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, port,
                     &hints, &res);
    if (rc != 0) {
        lwrt_log(LOG_ERR, "web.listen: cannot resolve '%s': %s", spec,
                 gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (!w->tls && !plain_ok && !is_loopback(ai->ai_addr)) {
            char a[LWW_ADDR_MAX];
            getnameinfo(ai->ai_addr, ai->ai_addrlen, a, sizeof(a), NULL, 0,
                        NI_NUMERICHOST);
            lwrt_log(LOG_ERR,
                     "refusing to serve plain HTTP on %s (web.listen = %s): "
                     "passwords, session cookies and borrowers' locations "
                     "would cross the network unencrypted. Set web.certfile "
                     "and web.keyfile for HTTPS, listen on a loopback "
                     "address behind a TLS reverse proxy, or set "
                     "web.allow_plain_http = yes to accept the risk",
                     a, spec);
            freeaddrinfo(res);
            return -1;
        }
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
                                       SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 128) == 0)
            break;
        lwrt_log(LOG_ERR, "web.listen: cannot listen on %s: %s", spec,
                 strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    w->listen_fd = fd;
    return 0;
}

static void stop_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    lwrt_log(LOG_INFO, "received %s: stopping", strsignal(s->signum));
    ev_break(loop, EVBREAK_ALL);
}

static void sweep_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lww *w = t->data;

    (void)loop;
    (void)revents;
    lw_session_sweep(w->sessions, lwrt_wall_ms());
    lww_sse_poll(w);
}

static int start(struct lww *w)
{
    char err[400];
    struct lw_session_opts so = {
        .idle_ms = w->cfg.web_session_idle_ms,
        .max_ms = w->cfg.web_session_max_ms,
        .max_failures = w->cfg.web_login_failures,
        .window_ms = w->cfg.web_login_window_ms,
    };

    w->listen_fd = -1;
    w->tls = w->cfg.web_certfile[0] != '\0';
    if (w->tls) {
        w->cert_pem = read_pem("certfile", w->cfg.web_certfile);
        w->key_pem = read_pem("keyfile", w->cfg.web_keyfile);
        if (!w->cert_pem || !w->key_pem)
            return -1;
    }
    snprintf(w->static_dir, sizeof(w->static_dir), "%s",
             w->cfg.web_static_dir[0] ? w->cfg.web_static_dir
                                      : LWW_STATIC_DIR);
    if (load_zone(w->cfg.places_timezone, &w->tz) != 0)
        return -1;
    if (open_listener(w) != 0)
        return -1;
    if (lw_store_open(&w->store, w->cfg.db_path, LW_STORE_NOMIGRATE, err,
                      sizeof(err)) != LW_OK) {
        lwrt_log(LOG_ERR, "cannot open database %s: %s", w->cfg.db_path,
                 err);
        return -1;
    }
    /* the loop must not stop for long behind lienwatchd's commits: a write
     * (an audit record, a case, a command) waits this long for the lock,
     * then the request is answered 503 with Retry-After; reads see the
     * last commit through the WAL and never wait */
    lw_store_set_busy_timeout(w->store, LWW_BUSY_TIMEOUT_MS);
    /* a list of thousands of vehicles, then as many audit rows in one
     * transaction: without room they spill to the WAL before the commit */
    if (lw_store_set_cache_kib(w->store, LWW_CACHE_KIB) != LW_OK)
        lwrt_log(LOG_WARNING, "cannot set the database cache: %s",
                 lw_store_errmsg(w->store));
    if (lw_sessions_new(&w->sessions, &so) != LW_OK) {
        lwrt_log(LOG_ERR, "cannot set up sessions (no randomness?)");
        return -1;
    }
    /* [privacy] unwatched_access of the same file lienwatchd reads
     * (validated with it: reason, deny or allow) */
    if (lw_access_policy_parse(w->cfg.privacy_unwatched_access,
                               &w->unwatched) != LW_OK)
        w->unwatched = LW_UNWATCHED_REASON;
    if (lww_login_init(w) != 0 || lww_http_start(w) != 0)
        return -1;
    ev_timer_init(&w->sweep_timer, sweep_cb, SWEEP_INTERVAL_S,
                  SWEEP_INTERVAL_S);
    w->sweep_timer.data = w;
    ev_timer_start(w->loop, &w->sweep_timer);
    ev_signal_init(&w->sigint_w, stop_cb, SIGINT);
    ev_signal_init(&w->sigterm_w, stop_cb, SIGTERM);
    ev_signal_start(w->loop, &w->sigint_w);
    ev_signal_start(w->loop, &w->sigterm_w);
    lwrt_log(LOG_INFO, "lienwatch-web %s serving %s on %s (pid %d), database %s",
             LW_VERSION, w->tls ? "HTTPS" : "HTTP", w->cfg.web_listen,
             (int)getpid(), w->cfg.db_path);
    return 0;
}

static void stop(struct lww *w)
{
    lww_login_release(w); /* resumes connections waiting for a check */
    lww_http_stop(w);
    if (w->loop) {
        ev_timer_stop(w->loop, &w->sweep_timer);
        ev_signal_stop(w->loop, &w->sigint_w);
        ev_signal_stop(w->loop, &w->sigterm_w);
    }
    if (w->listen_fd >= 0)
        close(w->listen_fd);
    lw_sessions_free(w->sessions);
    lw_store_close(w->store);
    lw_tz_free(w->tz);
    free(w->cert_pem);
    free(w->key_pem);
}

enum { OPT_DB = 256, OPT_LISTEN, OPT_SET, OPT_CHECK, OPT_DUMP };

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, OPT_DB},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"set", required_argument, NULL, OPT_SET},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"dump-config", no_argument, NULL, OPT_DUMP},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static const int syslog_level[] = {LOG_ERR, LOG_WARNING, LOG_INFO,
                                       LOG_DEBUG};
    static struct lww w;
    bool check_only = false;
    int opt, verbosity = 0, level, rc = 1;

    lwrt_log_init("lienwatch-web");
    /* answers of a megabyte (ops' lists) come and go many times a minute:
     * keep their memory in the heap for the next one instead of mapping
     * and faulting in fresh pages each time */
    mallopt(M_MMAP_THRESHOLD, LWW_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, LWW_TRIM_THRESHOLD);
    while ((opt = getopt_long(argc, argv, "c:vqhV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            w.config_path = optarg;
            break;
        case OPT_DB:
            if (add_override("store", "db", optarg) != 0)
                return 2;
            break;
        case OPT_LISTEN:
            if (add_override("web", "listen", optarg) != 0)
                return 2;
            break;
        case OPT_SET:
            if (parse_set(optarg) != 0)
                return 2;
            break;
        case OPT_CHECK:
            check_only = true;
            break;
        case OPT_DUMP:
            lw_config_dump(stdout);
            return 0;
        case 'v':
            verbosity++;
            break;
        case 'q':
            verbosity--;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("lienwatch-web %s\n", LW_VERSION);
            return 0;
        default:
            fprintf(stderr,
                    "Try 'lienwatch-web --help' for more information.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                "lienwatch-web: unexpected argument '%s'\n"
                "Try 'lienwatch-web --help' for more information.\n",
                argv[optind]);
        return 2;
    }
    if (load_config(&w) != 0)
        return EXIT_CONFIG;
    if (check_only) {
        printf("%s: configuration is valid\n",
               w.config_path ? w.config_path : "(defaults)");
        return 0;
    }
    level = w.cfg.log_level + verbosity;
    lwrt_log_set_level(syslog_level[level < 0 ? 0 : level > 3 ? 3 : level]);
    signal(SIGPIPE, SIG_IGN);
    w.loop = EV_DEFAULT;
    if (start(&w) == 0) {
        ev_run(w.loop, 0);
        rc = 0;
    }
    stop(&w);
    ev_loop_destroy(w.loop);
    return rc;
}
