/*
 * users.h - the people and machine clients who may use lienwatch-web:
 * users (a name, roles, an argon2id password, enabled or disabled) and
 * bearer tokens (for loan servicing, dashboards, an agent's tablet).
 *
 * Roles are the bits of access.h (LW_ROLE_AGENT, LW_ROLE_OPS,
 * LW_ROLE_ADMIN); a user may hold several. What a role may see is decided
 * by lw_access_decide, not here.
 *
 * Names. Users and tokens share one name space (a token cannot take a
 * user's name, nor the reverse), so the name recorded in the audit trail
 * (who) is never ambiguous: 1 to LW_USER_NAME_MAX bytes of ASCII letters,
 * digits and ". _ @ -", starting with a letter or a digit (safe in a page,
 * a log line, a file name). Names are compared as given (case matters).
 *
 * Passwords are stored only as libsodium's crypto_pwhash_str (argon2id,
 * the interactive limits: about 64 MiB and a tenth of a second on a server
 * core per hash or verify), never in clear; LW_USER_PASSWORD_MIN to
 * LW_USER_PASSWORD_MAX bytes. Tokens are 256 random bits shown once, at
 * creation, as LW_TOKEN_PREFIX followed by 43 characters of URL-safe base64;
 * the database keeps only their SHA-256 (a random 256-bit secret needs no
 * slow hash), so a copy of the database cannot be used to sign in.
 *
 * Audit. Every change (user add, user passwd, user disable, user enable,
 * user roles, token create, token revoke) appends one audit record
 * (audit.h) in the same transaction as the change: all or nothing. The
 * caller says who acts with "by", an audit record used as a template: its
 * who (required), role, via, as_name, os_detail and client are recorded;
 * this module sets at_ms (now_ms), action, detail (what changed, never a
 * password or a token) and leaves device, case_id, basis and reason NULL.
 *
 * Errors. Every function returns LW_OK, or: LW_ERR_INVAL for a NULL handle
 * or required argument, a read-only handle for a write, or input that
 * breaks a rule above (the sentence in lw_store_errmsg says which, e.g.
 * "user name \"x y\" may hold only letters, digits and . _ @ -");
 * LW_ERR_EXISTS where a name is taken; LW_ERR_NOTFOUND where a named user
 * or token does not exist; LW_ERR_NOMEM; or a database error of store.h
 * (LW_ERR_BUSY, LW_ERR_FULL, LW_ERR_READONLY, LW_ERR_IO, LW_ERR_CORRUPT,
 * LW_ERR_DB). Writes run in the caller's write transaction when one is open
 * (lw_store_begin), else in one of their own.
 *
 * Strings passed in are borrowed; structs handed to callbacks are valid
 * during the call only. Times are UTC ms since the epoch, from the caller's
 * clock. No clock, no logging, no globals (libsodium's own initialisation
 * aside, which is idempotent and thread-safe).
 */
#ifndef LIENWATCH_USERS_H
#define LIENWATCH_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/audit.h"
#include "lienwatch/err.h"
#include "lienwatch/store.h"

/* Longest user or token name, in bytes, without the NUL. */
#define LW_USER_NAME_MAX 64
/* Shortest and longest password, in bytes. */
#define LW_USER_PASSWORD_MIN 8
#define LW_USER_PASSWORD_MAX 1024
/* Room for a password hash (crypto_pwhash_STRBYTES is 128). */
#define LW_USER_HASH_MAX 128

/* A token as shown once: prefix + 43 URL-safe base64 characters (256
 * bits), and its length without the NUL. */
#define LW_TOKEN_PREFIX "lwt_"
#define LW_TOKEN_TEXT_LEN (4 + 43)
/* The token's SHA-256 as stored, hexadecimal, without the NUL. */
#define LW_TOKEN_HASH_HEX 64

/* One user, as read. */
struct lw_user {
    int64_t id;                      /* row id, increasing */
    char name[LW_USER_NAME_MAX + 1]; /* unique name */
    unsigned roles;                  /* enum lw_role bits, never 0 */
    bool disabled;                   /* may not sign in; sessions end */
    bool has_password;               /* false: cannot sign in until
                                        lw_user_passwd */
    int64_t created_ms;              /* lw_user_add */
    int64_t updated_ms;              /* last change of any kind */
    int64_t password_ms;             /* last password change; 0: none */
};

/* ---- users ---------------------------------------------------------------
 */

/*
 * True when name follows the naming rule above. Pure.
 */
bool lw_user_name_valid(const char *name);

/*
 * Adds user name with roles (enum lw_role bits, at least one, none
 * unknown) and password (NULL: none yet; the user cannot sign in until
 * lw_user_passwd), as by at now_ms. *id (may be NULL) gets the new row's
 * id. Returns LW_OK; LW_ERR_INVAL (bad name, roles or password length);
 * LW_ERR_EXISTS when a user or token has that name; LW_ERR_NOMEM (the hash
 * needs about 64 MiB); or a database error. Audit action "user add",
 * detail "roles=agent,ops".
 */
enum lw_err lw_user_add(struct lw_store *s, const char *name, unsigned roles,
                        const char *password, const struct lw_audit_rec *by,
                        int64_t now_ms, int64_t *id);

/*
 * Sets user name's password (not NULL). Returns LW_OK, LW_ERR_INVAL (bad
 * length), LW_ERR_NOTFOUND, LW_ERR_NOMEM or a database error. Audit action
 * "user passwd". The caller ends the user's sessions (they are not this
 * module's).
 */
enum lw_err lw_user_passwd(struct lw_store *s, const char *name,
                           const char *password, const struct lw_audit_rec *by,
                           int64_t now_ms);

/*
 * Disables (disabled true) or enables user name. Disabling a disabled user
 * (or enabling an enabled one) changes nothing and records nothing: LW_OK.
 * Returns LW_OK, LW_ERR_NOTFOUND or a database error. Audit action "user
 * disable" or "user enable". A disabled user's sessions must end (the
 * session module checks lw_user_get on each use, or ends them).
 */
enum lw_err lw_user_set_disabled(struct lw_store *s, const char *name,
                                 bool disabled, const struct lw_audit_rec *by,
                                 int64_t now_ms);

/*
 * Replaces user name's roles (at least one, none unknown). Returns LW_OK,
 * LW_ERR_INVAL, LW_ERR_NOTFOUND or a database error. Audit action "user
 * roles", detail "roles=OLD -> NEW".
 */
enum lw_err lw_user_set_roles(struct lw_store *s, const char *name,
                              unsigned roles, const struct lw_audit_rec *by,
                              int64_t now_ms);

/*
 * Reads user name into *out (copied). Returns LW_OK, LW_ERR_NOTFOUND,
 * LW_ERR_INVAL or a database error. Works on read-only handles.
 */
enum lw_err lw_user_get(struct lw_store *s, const char *name,
                        struct lw_user *out);

/* Called per user; return 0 to go on, non-zero to stop (not an error). */
typedef int (*lw_user_cb)(void *ctx, const struct lw_user *u);

/* Calls cb for every user, by name. Returns LW_OK (also when cb stopped),
 * LW_ERR_INVAL or a database error. Works on read-only handles. */
enum lw_err lw_user_list(struct lw_store *s, lw_user_cb cb, void *ctx);

/*
 * Signs in: checks password against user name's stored hash. *out (may be
 * NULL) gets the user when the password matches. Takes as long for an
 * unknown name as for a known one (a dummy hash is verified), so the time
 * does not tell which names exist.
 *
 * Returns LW_OK when the password matches an enabled user;
 * LW_ERR_NOTFOUND for every refusal alike (unknown name, wrong password,
 * no password set, disabled user: the web answers each with the same
 * 401); LW_ERR_INVAL for NULL arguments; LW_ERR_NOMEM; or a database
 * error. Records nothing (the web records logins as it sees fit). Costs one
 * argon2id verify (about 64 MiB, a tenth of a second): a caller that must
 * not stop its loop for that runs it in a worker with its own handle, or
 * uses lw_user_hash_get + lw_user_password_check there.
 */
enum lw_err lw_user_login(struct lw_store *s, const char *name,
                          const char *password, struct lw_user *out);

/*
 * The stored password hash of user name into hash (LW_USER_HASH_MAX + 1
 * bytes), and the user into *out (may be NULL), for a caller that verifies
 * elsewhere (lw_user_password_check). Returns LW_OK; LW_ERR_NOTFOUND for
 * an unknown user or one without a password (hash ""); LW_ERR_INVAL; or a
 * database error.
 */
enum lw_err lw_user_hash_get(struct lw_store *s, const char *name,
                             char hash[LW_USER_HASH_MAX + 1],
                             struct lw_user *out);

/*
 * True when password matches hash (a crypto_pwhash_str string; NULL or ""
 * never matches, but a dummy verify runs all the same). Pure but slow (see
 * lw_user_login); thread-safe.
 */
bool lw_user_password_check(const char *hash, const char *password);

/* ---- bearer tokens ------------------------------------------------------- */

/* One token, as read (never the token itself: only its hash is stored). */
struct lw_token {
    int64_t id;                      /* row id, increasing */
    char name[LW_USER_NAME_MAX + 1]; /* the client's name (audit "who") */
    unsigned roles;                  /* LW_ROLE_AGENT and/or LW_ROLE_OPS */
    int64_t created_ms;              /* lw_token_create */
    int64_t expires_ms;              /* 0: never */
    int64_t revoked_ms;              /* 0: not revoked */
    int64_t last_used_ms;            /* lw_token_touch; 0: never used */
};

/*
 * Creates a token for client name with roles (LW_ROLE_AGENT and/or
 * LW_ROLE_OPS: a token never administers) valid until expires_ms (0:
 * until revoked; else after now_ms). Writes the token, shown to the caller
 * once and never stored, into text (LW_TOKEN_TEXT_LEN + 1 bytes, always
 * terminated; "" on failure). *id (may be NULL) gets the row id.
 *
 * Returns LW_OK; LW_ERR_INVAL (bad name, roles or expiry); LW_ERR_EXISTS
 * when a user has that name or a token of that name is still valid (revoke
 * it first: one valid token per name, so "revoke NAME" is unambiguous; a
 * revoked or expired token's name can be reused); or a database error.
 * Audit action "token create", detail "roles=ops expires=..." (never the
 * token).
 */
enum lw_err lw_token_create(struct lw_store *s, const char *name,
                            unsigned roles, int64_t expires_ms,
                            const struct lw_audit_rec *by, int64_t now_ms,
                            char text[LW_TOKEN_TEXT_LEN + 1], int64_t *id);

/*
 * Revokes the valid (not revoked, not expired at now_ms) token of name.
 * Returns LW_OK, LW_ERR_NOTFOUND when name has no valid token, or a
 * database error. Audit action "token revoke".
 */
enum lw_err lw_token_revoke(struct lw_store *s, const char *name,
                            const struct lw_audit_rec *by, int64_t now_ms);

/*
 * Finds the token a client presented (text, as sent after "Bearer "): its
 * row into *out when it is known, not revoked and not expired at now_ms.
 * Returns LW_OK; LW_ERR_NOTFOUND for any other text (unknown, malformed,
 * revoked, expired: one answer, a 401); LW_ERR_INVAL for NULL arguments;
 * or a database error. Costs one SHA-256 and one index lookup; records
 * nothing. Works on read-only handles.
 */
enum lw_err lw_token_lookup(struct lw_store *s, const char *text,
                            int64_t now_ms, struct lw_token *out);

/*
 * Records that token id was used at now_ms (for token list), when its
 * last use is older than a minute (so a busy client does not write on every
 * request). Not audited. Returns LW_OK (also for an unknown id) or a
 * database error.
 */
enum lw_err lw_token_touch(struct lw_store *s, int64_t id, int64_t now_ms);

/* Called per token; return 0 to go on, non-zero to stop (not an error). */
typedef int (*lw_token_cb)(void *ctx, const struct lw_token *t);

/* Calls cb for every token (revoked and expired ones too), by name then
 * id. Returns LW_OK, LW_ERR_INVAL or a database error. */
enum lw_err lw_token_list(struct lw_store *s, lw_token_cb cb, void *ctx);

#endif
