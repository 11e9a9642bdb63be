/*
 * session.h - web sessions and login throttling, kept in memory.
 *
 * A session is what a person gets for a correct password on the web page:
 * a 256-bit random token (sent to the browser once, as a cookie) and a
 * 256-bit random CSRF value (returned in the login answer, sent back by the
 * page in the X-CSRF-Token header of every state-changing request). The
 * table keeps only the SHA-256 of the token, so a copy of the process's
 * memory or a log line does not hand out live sessions. A session ends
 * after idle_ms without use, max_ms after its creation whatever the use, at
 * logout, or when its user is ended (disabled, password changed).
 *
 * Sessions live in the web process only: a restart logs everybody out,
 * which costs an agent one login and keeps the database free of bearer
 * secrets.
 *
 * Login throttling: after max_failures failed logins for one user name or
 * one client address within window_ms of the first of them, that name or
 * address is refused until the window has passed (the web answers 429).
 * The throttle table is bounded (LW_SESSION_THROTTLE_MAX keys; the oldest
 * window is dropped first) so a flood of made-up names cannot fill memory.
 *
 * Pure: time comes in as now_ms (any one clock, ms); randomness from
 * libsodium. Not thread-safe: one thread uses one table.
 */
#ifndef LIENWATCH_SESSION_H
#define LIENWATCH_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/err.h"

/* Length of a token or CSRF value as text (base64url, no padding), with
 * the NUL. */
#define LW_SESSION_TOKEN_LEN 44
/* Longest user name, without the NUL. */
#define LW_SESSION_USER_MAX 64
/* Most keys (names and addresses) the throttle remembers. */
#define LW_SESSION_THROTTLE_MAX 10000

struct lw_sessions; /* opaque */

struct lw_session_opts {
    int64_t idle_ms;      /* unused this long: ended (> 0) */
    int64_t max_ms;       /* this long after creation: ended (> 0) */
    int max_failures;     /* failed logins before refusing (>= 1) */
    int64_t window_ms;    /* ... within this window (> 0) */
    size_t max_sessions;  /* most live sessions; 0 = 100000 */
};

/* What a live session is. */
struct lw_session_info {
    char user[LW_SESSION_USER_MAX + 1]; /* who logged in */
    unsigned roles;                     /* enum lw_role bits (access.h) */
    char csrf[LW_SESSION_TOKEN_LEN];    /* the CSRF value, text */
    int64_t created_ms;                 /* login time */
    int64_t used_ms;                    /* last use */
    uint64_t serial;                    /* unique per session of the table */
};

/*
 * Makes an empty table with the options o (borrowed, copied) into *out
 * (free with lw_sessions_free). Returns LW_OK, LW_ERR_INVAL for a NULL or
 * out-of-range option, LW_ERR_NOMEM, or LW_ERR_IO when libsodium
 * cannot start (no randomness).
 */
enum lw_err lw_sessions_new(struct lw_sessions **out,
                            const struct lw_session_opts *o);
/* Frees the table; NULL is a no-op. */
void lw_sessions_free(struct lw_sessions *s);

/*
 * Starts a session for user (borrowed, copied; 1..LW_SESSION_USER_MAX
 * bytes) with roles at now_ms. The token goes into token (text,
 * LW_SESSION_TOKEN_LEN bytes): the only copy there is. *info (may be NULL)
 * gets the session, CSRF value included. When the table is full the session
 * used least recently is ended to make room. Returns LW_OK, LW_ERR_INVAL
 * or LW_ERR_NOMEM.
 */
enum lw_err lw_session_create(struct lw_sessions *s, const char *user,
                              unsigned roles, int64_t now_ms,
                              char token[LW_SESSION_TOKEN_LEN],
                              struct lw_session_info *info);

/*
 * Looks up the session of token (borrowed text) at now_ms: when live, marks
 * it used and copies it into *info (may be NULL). A session found expired
 * is ended. Returns LW_OK, LW_ERR_NOTFOUND (unknown, malformed, expired)
 * or LW_ERR_INVAL.
 */
enum lw_err lw_session_check(struct lw_sessions *s, const char *token,
                             int64_t now_ms, struct lw_session_info *info);

/* Whether a session with this serial is still live at now_ms (without
 * marking it used): for a live stream opened under it. */
bool lw_session_alive(struct lw_sessions *s, uint64_t serial, int64_t now_ms);

/* Ends the session of token. Returns LW_OK or LW_ERR_NOTFOUND. */
enum lw_err lw_session_end(struct lw_sessions *s, const char *token);

/* Ends every session of user. Returns how many were ended. */
size_t lw_session_end_user(struct lw_sessions *s, const char *user);

/* Ends the expired sessions and forgets throttle windows that have
 * passed. Returns the number of live sessions. */
size_t lw_session_sweep(struct lw_sessions *s, int64_t now_ms);

/* True when header (may be NULL) is the CSRF value of info, compared in
 * constant time. */
bool lw_session_csrf_ok(const struct lw_session_info *info,
                        const char *header);

/*
 * Login throttling. lw_login_throttled: true when user (may be NULL) or
 * client (may be NULL) had max_failures failures in the window running at
 * now_ms; *retry_s (may be NULL) gets the seconds until it has passed.
 * lw_login_failed records one failure of both.
 */
bool lw_login_throttled(struct lw_sessions *s, const char *user,
                        const char *client, int64_t now_ms, int64_t *retry_s);
void lw_login_failed(struct lw_sessions *s, const char *user,
                     const char *client, int64_t now_ms);

#endif
