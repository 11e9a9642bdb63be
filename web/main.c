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
          "web.certfile and web.keyfile for HTTPS. SIGTERM or SIGINT stops;\n"
          "SIGHUP re-reads FILE: the tile server, the access policy and\n"
          "threshold, the places' time zone and the log level at once, the\n"
          "address, TLS, database and sessions at the next start (logged).\n"
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

/*
 * Reads the configuration (defaults, the file of -c, then every --set, as
 * at start) into *c and checks it. 0, or -1 with the problems, one a line,
 * in err.
 */
static int load_config_into(const struct lww *w, struct lw_config *c,
                            char *err, size_t errlen)
{
    char why[LW_CONFIG_ERR_MAX];
    size_t used = 0;

    err[0] = '\0';
    lw_config_defaults(c);
    if (w->config_path &&
        lw_config_load(c, w->config_path, err, errlen) != LW_OK)
        return -1;
    for (int i = 0; i < noverrides; i++) {
        const struct override *o = &overrides[i];
        if (lw_config_set(c, o->section[0] ? o->section : NULL, o->key,
                          o->value, why, sizeof(why)) != LW_OK) {
            int k = snprintf(err + used, errlen - used, "%scommand line: %s",
                             used ? "\n" : "", why);
            if (k > 0 && (size_t)k < errlen - used)
                used += (size_t)k;
        }
    }
    if (used)
        return -1;
    if (lw_config_check(c, err, errlen) != LW_OK)
        return -1;
    return 0;
}

static int load_config(struct lww *w)
{
    char err[LW_CONFIG_ERR_MAX];

    if (load_config_into(w, &w->cfg, err, sizeof(err)) != 0) {
        print_lines(err);
        return -1;
    }
    return 0;
}

/* The page's files: web.static_dir, else the installed ones. */
static void set_static_dir(struct lww *w)
{
    snprintf(w->static_dir, sizeof(w->static_dir), "%s",
             w->cfg.web_static_dir[0] ? w->cfg.web_static_dir
                                      : LWW_STATIC_DIR);
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

/*
 * SIGHUP: what lienwatch-web takes from a changed configuration file. The
 * table's reload classes are lienwatchd's view (every [web] key is "web":
 * not the daemon's); this is the web service's own: what it reads at each
 * request or can swap between two requests is taken at once, what it set
 * up at start (the socket, TLS, the database, the session table) keeps its
 * running value until a restart, and says so. A file that does not load
 * or check keeps the whole running configuration.
 */
/* Changed settings looked at by one SIGHUP. */
#define HUP_CHANGES_MAX 64

static const struct hup_key {
    const char *section, *key;
    bool live; /* taken at once; else at the next start */
} hup_keys[] = {
    {"web", "tile_url", true},          {"web", "tile_attribution", true},
    {"web", "static_dir", true},        {"web", "leaflet_dir", true},
    {"privacy", "unwatched_access", true},
    {"alerts", "watch_days_past_due", true},
    {"places", "timezone", true},       {"log", "level", true},
    {"web", "listen", false},           {"web", "certfile", false},
    {"web", "keyfile", false},          {"web", "allow_plain_http", false},
    {"web", "max_connections", false},  {"web", "session_idle", false},
    {"web", "session_max", false},      {"web", "login_failures", false},
    {"web", "login_window", false},     {"store", "db", false},
};

static const struct hup_key *hup_key(const char *section, const char *key)
{
    for (size_t i = 0; i < sizeof(hup_keys) / sizeof(hup_keys[0]); i++)
        if (strcmp(hup_keys[i].section, section) == 0 &&
            strcmp(hup_keys[i].key, key) == 0)
            return &hup_keys[i];
    return NULL;
}

static void set_log_level(const struct lww *w)
{
    static const int syslog_level[] = {LOG_ERR, LOG_WARNING, LOG_INFO,
                                       LOG_DEBUG};
    int level = w->cfg.log_level + w->verbosity;

    lwrt_log_set_level(syslog_level[level < 0 ? 0 : level > 3 ? 3 : level]);
}

static void log_lines(int prio, const char *prefix, const char *text)
{
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        lwrt_log(prio, "%s%.*s", prefix, (int)len, p);
        p += len + (p[len] == '\n');
    }
}

static void hup_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
    struct lww *w = sig->data;
    struct lw_config next;
    struct lw_config_change ch[HUP_CHANGES_MAX];
    char err[LW_CONFIG_ERR_MAX], why[LW_CONFIG_ERR_MAX];
    char oldv[LW_CONFIG_STR_MAX + 1], newv[LW_CONFIG_STR_MAX + 1];
    struct lw_tz *tz = NULL;
    enum lw_unwatched_policy policy = w->unwatched;
    size_t n, applied = 0, waiting = 0, other = 0;

    (void)loop;
    (void)revents;
    if (!w->config_path) {
        lwrt_log(LOG_INFO, "SIGHUP: no configuration file (-c) to re-read");
        return;
    }
    if (load_config_into(w, &next, err, sizeof(err)) != 0) {
        log_lines(LOG_ERR, "SIGHUP: ", err);
        lwrt_log(LOG_ERR, "SIGHUP: configuration not reloaded; keeping the "
                          "running configuration");
        return;
    }
    n = lw_config_diff(&w->cfg, &next, ch, HUP_CHANGES_MAX);
    /* first the ones that wait: they keep their running value */
    for (size_t i = 0; i < n && i < HUP_CHANGES_MAX; i++) {
        const struct hup_key *k = hup_key(ch[i].section, ch[i].key);

        lw_config_value(&w->cfg, ch[i].section, ch[i].key, oldv,
                        sizeof(oldv));
        lw_config_value(&next, ch[i].section, ch[i].key, newv, sizeof(newv));
        if (!k || !k->live) {
            /* not the web's, or set up at start: the running value stays */
            if (lw_config_set(&next, ch[i].section, ch[i].key, oldv, why,
                              sizeof(why)) != LW_OK) {
                lwrt_log(LOG_ERR,
                         "SIGHUP: %s.%s cannot keep its running value (%s); "
                         "keeping the running configuration",
                         ch[i].section, ch[i].key, why);
                return;
            }
            if (k) {
                lwrt_log(LOG_WARNING,
                         "SIGHUP: %s.%s changed ('%s' -> '%s'): takes effect "
                         "at restart; running with '%s' until then",
                         ch[i].section, ch[i].key, oldv, newv, oldv);
                waiting++;
            } else {
                lwrt_log(LOG_DEBUG,
                         "SIGHUP: %s.%s changed (not lienwatch-web's)",
                         ch[i].section, ch[i].key);
                other++;
            }
        }
    }
    if (n > HUP_CHANGES_MAX)
        lwrt_log(LOG_WARNING,
                 "SIGHUP: more than %d settings changed: only the first %d "
                 "looked at; restart to take the rest",
                 HUP_CHANGES_MAX, HUP_CHANGES_MAX);
    /* what is taken at once must be usable before anything changes */
    if (lw_access_policy_parse(next.privacy_unwatched_access, &policy) !=
        LW_OK) {
        lwrt_log(LOG_ERR, "SIGHUP: privacy.unwatched_access '%s' is not "
                          "reason, deny or allow; keeping the running "
                          "configuration",
                 next.privacy_unwatched_access);
        return;
    }
    if (strcmp(next.places_timezone, w->cfg.places_timezone) != 0 &&
        load_zone(next.places_timezone, &tz) != 0) {
        lwrt_log(LOG_ERR, "SIGHUP: keeping the running configuration");
        return;
    }
    for (size_t i = 0; i < n && i < HUP_CHANGES_MAX; i++) {
        const struct hup_key *k = hup_key(ch[i].section, ch[i].key);

        if (!k || !k->live)
            continue;
        lw_config_value(&w->cfg, ch[i].section, ch[i].key, oldv,
                        sizeof(oldv));
        lw_config_value(&next, ch[i].section, ch[i].key, newv, sizeof(newv));
        lwrt_log(LOG_INFO, "SIGHUP: %s.%s: '%s' -> '%s' (applied)",
                 ch[i].section, ch[i].key, oldv, newv);
        applied++;
    }
    w->cfg = next;
    w->unwatched = policy;
    if (tz) {
        lw_tz_free(w->tz);
        w->tz = tz;
    }
    set_static_dir(w);
    set_log_level(w);
    w->dirty = true; /* streams look again at who may see what */
    lwrt_log(LOG_INFO,
             "SIGHUP: configuration re-read from %s: %zu change%s applied, "
             "%zu waiting for a restart%s",
             w->config_path, applied, applied == 1 ? "" : "s", waiting,
             other ? " (and changes to settings lienwatch-web does not use)"
                   : "");
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
    set_static_dir(w);
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
    ev_signal_init(&w->sighup_w, hup_cb, SIGHUP);
    w->sighup_w.data = w;
    ev_signal_start(w->loop, &w->sigint_w);
    ev_signal_start(w->loop, &w->sigterm_w);
    ev_signal_start(w->loop, &w->sighup_w);
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
        ev_signal_stop(w->loop, &w->sighup_w);
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
    static struct lww w;
    bool check_only = false;
    int opt, verbosity = 0, rc = 1;

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
    w.verbosity = verbosity;
    set_log_level(&w);
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
