/*
 * web.h - lienwatch-web's parts and what they share.
 *
 * One thread, one libev loop (as in lienwatchd): libmicrohttpd runs in its
 * "external polling" mode with epoll; the loop watches MHD's epoll
 * descriptor and its timeout and calls MHD_run (http.c). Requests are
 * answered in the loop from the SQLite database (api.c); live streams
 * (Server-Sent Events, sse.c) are suspended connections that a timer
 * resumes when the database shows something new for them. Static files
 * (the page, Leaflet) come from static.c.
 */
#ifndef LWW_WEB_H
#define LWW_WEB_H

#include <ev.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/access.h"
#include "lienwatch/config.h"
#include "lienwatch/listing.h"
#include "lienwatch/registry.h"
#include "lienwatch/session.h"
#include "lienwatch/store.h"
#include "lienwatch/tz.h"
#include "lienwatch/users.h"
#include "lienwatch/webreq.h"

/* How long a write waits for lienwatchd's write lock before the request is
 * answered 503 (every other request waits as long: one loop), ms. A batch
 * commit of lienwatchd takes a few ms. */
#define LWW_BUSY_TIMEOUT_MS 100
/* Retry-After of a 503, seconds (text). */
#define LWW_RETRY_AFTER_S "1"

/* The database connection's page cache, KiB. */
#define LWW_CACHE_KIB (32 * 1024)

/* malloc: blocks under this many bytes come from the heap, and freed heap
 * memory up to the trim threshold is kept for the next answer. */
#define LWW_MMAP_THRESHOLD (16 * 1024 * 1024)
#define LWW_TRIM_THRESHOLD (64 * 1024 * 1024)

/* Longest client address text ("[v6]" without brackets). */
#define LWW_ADDR_MAX 64

struct lww_sse;   /* sse.c */
struct lww_login; /* login.c */

/* Where a sign-in request stands (login.c). */
enum lww_login_state {
    LWW_LOGIN_NONE = 0, /* not started */
    LWW_LOGIN_PENDING,  /* the password is being checked off the loop */
    LWW_LOGIN_DONE,     /* checked: login_ok says how */
};

/* The service. */
struct lww {
    struct ev_loop *loop;         /* the default loop */
    struct lw_config cfg;         /* the running configuration */
    const char *config_path;      /* -c FILE, or NULL */
    struct lw_store *store;       /* the database (writes: audit, cases) */
    struct lw_sessions *sessions; /* web sessions, login throttle */
    struct MHD_Daemon *mhd;       /* the HTTP server */
    bool tls;                     /* serving HTTPS */
    char *cert_pem, *key_pem;     /* TLS certificate and key (owned) */
    int listen_fd;                /* our listening socket, given to MHD */
    ev_io mhd_io;                 /* MHD's epoll descriptor readable */
    ev_timer mhd_timer;           /* MHD's next timeout */
    ev_timer sweep_timer;         /* expired sessions, stream checks */
    ev_signal sigint_w, sigterm_w; /* stop */
    ev_signal sighup_w;           /* re-read the configuration */
    int verbosity;                /* -v minus -q of the command line */
    struct lww_sse *streams;      /* live streams (sse.c) */
    int64_t data_version;         /* last PRAGMA data_version seen */
    int64_t last_fix_seq;         /* sse.c: newest fix time streamed */
    int64_t last_alert_id;        /* sse.c: newest alert streamed */
    int64_t last_refresh_ms;      /* sse.c: last check of every stream */
    bool dirty;                   /* we changed cases or alerts ourselves
                                     (data_version does not see our own
                                     commits): streams check at once */
    enum lw_unwatched_policy unwatched; /* look at unwatched vehicles */
    char static_dir[LW_CONFIG_STR_MAX + 1]; /* the page's files */
    struct lw_tz *tz;             /* local time of places ([places]
                                     timezone; owned) */
    struct lww_login *login;      /* the password-check worker */
};

/* Who is asking (after authentication). */
struct lww_who {
    char name[LW_USER_NAME_MAX + 1]; /* user or token name */
    unsigned roles;                  /* enum lw_role bits */
    bool cookie;                     /* by session cookie (CSRF applies) */
    uint64_t session;                /* session serial; 0 for a token */
    char csrf[LW_SESSION_TOKEN_LEN]; /* the session's CSRF value */
};

/* One request in progress. */
struct lww_req {
    struct lww *w;                 /* the service */
    struct MHD_Connection *conn;   /* its connection */
    char *body;                    /* request body (owned), NUL-terminated */
    size_t len, cap;               /* body bytes, allocated */
    char client[LWW_ADDR_MAX];     /* client address, numeric */
    int64_t now_ms;                /* wall clock at the request */
    const char *method;            /* borrowed from MHD */
    bool answered;                 /* a response was queued */
    enum lww_login_state login_state; /* sign-in progress */
    bool login_ok;                 /* the password matched */
    struct lw_user login_user;     /* the user signing in (known or not) */
    bool login_known;              /* login_user was found */
    char login_name[LW_WEBREQ_NAME_MAX + 1]; /* the name typed */
};

/* http.c: the server on the loop. */
int lww_http_start(struct lww *w);
void lww_http_stop(struct lww *w);
/* Call after anything that may give MHD work (a resumed connection). */
void lww_http_kick(struct lww *w);

/* Responses. Each queues a response and returns MHD's answer. */
enum MHD_Result lww_reply_json(struct lww_req *r, unsigned status, json_t *o);
enum MHD_Result lww_reply_error(struct lww_req *r, unsigned status,
                                const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum MHD_Result lww_reply_text(struct lww_req *r, unsigned status,
                               const char *type, const char *data, size_t len,
                               const char *disposition);
/* As lww_reply_text, taking data (malloc'ed; freed by MHD, also on
 * failure) instead of copying it. */
enum MHD_Result lww_reply_owned(struct lww_req *r, unsigned status,
                                const char *type, char *data, size_t len);
/* Adds the headers every answer carries (CSP, nosniff, ...). */
void lww_security_headers(struct lww *w, struct MHD_Response *resp);
/* A query value, percent-decoded into out; NULL when absent; "" and
 * *bad = true when malformed. */
const char *lww_query(struct lww_req *r, const char *name, char *out,
                      size_t outlen, bool *bad);
/* A request header (borrowed from MHD), or NULL. */
const char *lww_header(struct lww_req *r, const char *name);

/* login.c: password checks in a worker thread. */
int lww_login_init(struct lww *w);
void lww_login_release(struct lww *w);
/* Suspends r's connection and checks password against hash (copied);
 * the handler is called again with login_state LWW_LOGIN_DONE. 0 or -1. */
int lww_login_start(struct lww_req *r, const char *hash, const char *password);

/* api.c: /api/v1/... */
enum MHD_Result lww_api(struct lww_req *r, const char *url);

/* static.c: everything else. */
enum MHD_Result lww_static(struct lww_req *r, const char *url);

/* sse.c: live streams. */
enum MHD_Result lww_sse_open(struct lww_req *r, const struct lww_who *who);
void lww_sse_poll(struct lww *w);
void lww_sse_release(struct lww *w);
/* Whether who may see device now; fills case_id/basis. Used by sse.c. */
bool lww_may_see(struct lww *w, const struct lww_who *who, const char *device,
                 int64_t now_ms, int64_t *case_id, const char **basis);
/* The same for a row of a listing (listing.h: the caller asked it with
 * lww_listing_viewer(who)), without a lookup. */
bool lww_listed_may_see(struct lww *w, const struct lww_who *who,
                        const struct lw_listing_row *row, int64_t *case_id,
                        const char **basis);
const char *lww_listing_viewer(const struct lww_who *who);
/* Writes the audit row of a look; false (logged) when it could not. */
bool lww_audit_look(struct lww *w, const struct lww_who *who,
                    const char *client, const char *action,
                    const char *device, int64_t case_id, const char *reason,
                    const char *basis, const char *detail, int64_t now_ms);
/* A fix as JSON {lat, lon, fix_time, accuracy_m, speed_mps, course_deg}. */
json_t *lww_fix_json(const struct lw_fix *f);
/* ISO time or null for 0. */
json_t *lww_time_json(int64_t ms);

#endif
