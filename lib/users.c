/*
 * users.c - users and bearer tokens (users.h) on the store's connection.
 *
 * Tables (schema.c, migration 6):
 *   users  (id, name UNIQUE, roles, pwhash: crypto_pwhash_str or NULL,
 *           disabled 0/1, created_ms, updated_ms, password_ms)
 *   tokens (id, name, roles, hash: SHA-256 hex of the token text UNIQUE,
 *           created_ms, expires_ms 0 = never, revoked_ms 0 = valid,
 *           last_used_ms)
 * A name is a user's or a token's, never both (checked here, in the write
 * transaction that adds it). Each change and its audit record commit
 * together.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "lienwatch/access.h"
#include "lienwatch/timeutil.h"
#include "lienwatch/users.h"
#include "store_priv.h"
#include "wtxn.h"

/* The savepoint of a write inside the caller's transaction. */
#define SAVEPOINT "lw_users"
/* Tokens' use is recorded at most this often, ms. */
#define TOUCH_EVERY_MS 60000
/* Random bytes of a token. */
#define TOKEN_BYTES 32

/* A hash of a password nobody has, verified for unknown names so a refusal
 * takes as long whether or not the name exists (argon2id, the interactive
 * limits, as every stored hash). */
static const char DUMMY_HASH[] =
    "$argon2id$v=19$m=65536,t=2,p=1$YlmSXNNB2AdsPTp7saiM6A$"
    "LIrdmxQBBC0e5xvsjkHCpruwf4eldNtpmJt/cFd0K8M";

static const char SQL_USER_GET[] =
    "SELECT id, name, roles, disabled, pwhash IS NOT NULL, created_ms, "
    "updated_ms, password_ms, coalesce(pwhash, '') FROM users "
    "WHERE name = ?1";
static const char SQL_USER_LIST[] =
    "SELECT id, name, roles, disabled, pwhash IS NOT NULL, created_ms, "
    "updated_ms, password_ms, coalesce(pwhash, '') FROM users ORDER BY name";
static const char SQL_USER_ADD[] =
    "INSERT INTO users (name, roles, pwhash, created_ms, updated_ms, "
    "password_ms) VALUES (?1, ?2, ?3, ?4, ?4, ?5)";
static const char SQL_USER_PASSWD[] =
    "UPDATE users SET pwhash = ?2, password_ms = ?3, updated_ms = ?3 "
    "WHERE name = ?1";
static const char SQL_USER_DISABLE[] =
    "UPDATE users SET disabled = ?2, updated_ms = ?3 WHERE name = ?1";
static const char SQL_USER_ROLES[] =
    "UPDATE users SET roles = ?2, updated_ms = ?3 WHERE name = ?1";
/* a valid token of name at ?2 (the one name space) */
static const char SQL_TOKEN_VALID_ID[] =
    "SELECT id FROM tokens WHERE name = ?1 AND revoked_ms = 0 AND "
    "(expires_ms = 0 OR expires_ms > ?2) ORDER BY id LIMIT 1";
static const char SQL_USER_EXISTS[] = "SELECT id FROM users WHERE name = ?1";
static const char SQL_TOKEN_ADD[] =
    "INSERT INTO tokens (name, roles, hash, created_ms, expires_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_TOKEN_REVOKE[] =
    "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1";
static const char SQL_TOKEN_BY_HASH[] =
    "SELECT id, name, roles, created_ms, expires_ms, revoked_ms, "
    "last_used_ms FROM tokens WHERE hash = ?1";
static const char SQL_TOKEN_LIST[] =
    "SELECT id, name, roles, created_ms, expires_ms, revoked_ms, "
    "last_used_ms FROM tokens ORDER BY name, id";
static const char SQL_TOKEN_TOUCH[] =
    "UPDATE tokens SET last_used_ms = ?2 WHERE id = ?1 AND "
    "last_used_ms <= ?2 - ?3";

/* A user row with its hash, decoded together. */
struct user_row {
    struct lw_user u;                /* the user */
    char hash[LW_USER_HASH_MAX + 1]; /* pwhash, "" when none */
};

static void decode_user(sqlite3_stmt *st, void *out)
{
    struct user_row *r = out;

    memset(r, 0, sizeof(*r));
    r->u.id = sqlite3_column_int64(st, 0);
    lw_db_col_copy(st, 1, r->u.name, sizeof(r->u.name));
    r->u.roles = (unsigned)sqlite3_column_int(st, 2);
    r->u.disabled = sqlite3_column_int(st, 3) != 0;
    r->u.has_password = sqlite3_column_int(st, 4) != 0;
    r->u.created_ms = sqlite3_column_int64(st, 5);
    r->u.updated_ms = sqlite3_column_int64(st, 6);
    r->u.password_ms = sqlite3_column_int64(st, 7);
    lw_db_col_copy(st, 8, r->hash, sizeof(r->hash));
}

static void decode_token(sqlite3_stmt *st, void *out)
{
    struct lw_token *t = out;

    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(st, 0);
    lw_db_col_copy(st, 1, t->name, sizeof(t->name));
    t->roles = (unsigned)sqlite3_column_int(st, 2);
    t->created_ms = sqlite3_column_int64(st, 3);
    t->expires_ms = sqlite3_column_int64(st, 4);
    t->revoked_ms = sqlite3_column_int64(st, 5);
    t->last_used_ms = sqlite3_column_int64(st, 6);
}

static void decode_id(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
}

bool lw_user_name_valid(const char *name)
{
    size_t n;

    if (!name || !name[0])
        return false;
    n = strlen(name);
    if (n > LW_USER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9');

        if (!alnum && (i == 0 || !strchr("._@-", c)))
            return false;
    }
    return true;
}

/* Checks name, recording why it is refused. */
static enum lw_err check_name(struct lw_db *db, const char *what,
                              const char *name)
{
    if (!name || !name[0]) {
        lw_db_seterr(db, "%s name is empty", what);
        return LW_ERR_INVAL;
    }
    if (strlen(name) > LW_USER_NAME_MAX) {
        lw_db_seterr(db, "%s name is longer than %d bytes", what,
                     LW_USER_NAME_MAX);
        return LW_ERR_INVAL;
    }
    if (!lw_user_name_valid(name)) {
        lw_db_seterr(db,
                     "%s name \"%.64s\" may hold only letters, digits and "
                     ". _ @ -, and starts with a letter or a digit",
                     what, name);
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

static enum lw_err check_roles(struct lw_db *db, unsigned roles,
                               unsigned allowed)
{
    if (roles == 0 || (roles & ~allowed)) {
        char want[64];

        lw_db_seterr(db, "roles must be one or more of %s",
                     lw_access_roles_format(allowed, want, sizeof(want)));
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

static enum lw_err check_password(struct lw_db *db, const char *pw)
{
    size_t n = strlen(pw);

    if (n < LW_USER_PASSWORD_MIN || n > LW_USER_PASSWORD_MAX) {
        lw_db_seterr(db, "a password has %d to %d bytes (this one has %zu)",
                     LW_USER_PASSWORD_MIN, LW_USER_PASSWORD_MAX, n);
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

static enum lw_err check_by(struct lw_db *db, const struct lw_audit_rec *by)
{
    if (!by || !by->who || !by->who[0]) {
        lw_db_seterr(db, "no identity to record the change under");
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

/* Hashes pw into out (crypto_pwhash_STRBYTES). */
static enum lw_err hash_password(struct lw_db *db, const char *pw,
                                 char out[LW_USER_HASH_MAX + 1])
{
    _Static_assert(crypto_pwhash_STRBYTES <= LW_USER_HASH_MAX + 1,
                   "LW_USER_HASH_MAX too small");
    if (sodium_init() < 0) {
        lw_db_seterr(db, "libsodium could not be initialised");
        return LW_ERR_NOMEM;
    }
    if (crypto_pwhash_str(out, pw, strlen(pw),
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        lw_db_seterr(db, "hashing the password: out of memory");
        return LW_ERR_NOMEM;
    }
    return LW_OK;
}

/* Appends the audit record of a change: by with action and detail. */
static enum lw_err audit(struct lw_store *s, const struct lw_audit_rec *by,
                         const char *action, const char *detail, int64_t now_ms)
{
    struct lw_audit_rec r = *by;

    r.at_ms = now_ms;
    r.action = action;
    r.detail = detail;
    r.device = NULL;
    r.case_id = NULL;
    r.basis = NULL;
    r.reason = NULL;
    return lw_audit_append(s, &r, NULL);
}

/* Looks up one id by name (and time), LW_ERR_NOTFOUND when none. */
static enum lw_err find_id(struct lw_db *db, const char *sql, const char *name,
                           int64_t now_ms, int64_t *id)
{
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db, sql, &e);

    *id = 0;
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, name);
    if (sql == SQL_TOKEN_VALID_ID)
        lw_db_bind_int64(db, st, 2, now_ms);
    return lw_db_get_row(db, st, decode_id, id, "looking up a name");
}

/* LW_ERR_EXISTS (reason recorded) when name is a user's or a valid
 * token's, LW_OK when free. */
static enum lw_err name_free(struct lw_db *db, const char *name, int64_t now_ms)
{
    int64_t id;
    enum lw_err e = find_id(db, SQL_USER_EXISTS, name, now_ms, &id);

    if (e == LW_OK) {
        lw_db_seterr(db, "%s is the name of a user", name);
        return LW_ERR_EXISTS;
    }
    if (e != LW_ERR_NOTFOUND)
        return e;
    e = find_id(db, SQL_TOKEN_VALID_ID, name, now_ms, &id);
    if (e == LW_OK) {
        lw_db_seterr(db, "%s is the name of a valid token (revoke it first)",
                     name);
        return LW_ERR_EXISTS;
    }
    return e == LW_ERR_NOTFOUND ? LW_OK : e;
}

/* Runs an UPDATE of one user by name: ?1 name, ?2 int, ?3 now (ints), or
 * ?2 text when text is given. LW_ERR_NOTFOUND when no row changed. */
static enum lw_err update_user(struct lw_db *db, const char *sql,
                               const char *name, const char *text, int64_t v,
                               int64_t now_ms)
{
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db, sql, &e);

    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, name);
    if (text)
        lw_db_bind_text(db, st, 2, text);
    else
        lw_db_bind_int64(db, st, 2, v);
    lw_db_bind_int64(db, st, 3, now_ms);
    e = lw_db_run(db, st, "changing a user");
    if (e == LW_OK && lw_db_changes(db) == 0) {
        lw_db_seterr(db, "no user %s", name);
        e = LW_ERR_NOTFOUND;
    }
    return e;
}

/* ---- users ---------------------------------------------------------------
 */

enum lw_err lw_user_add(struct lw_store *s, const char *name, unsigned roles,
                        const char *password, const struct lw_audit_rec *by,
                        int64_t now_ms, int64_t *id)
{
    struct lw_db *db = lw_store_db(s);
    char hash[LW_USER_HASH_MAX + 1] = "", detail[96], rs[32];
    sqlite3_stmt *st;
    enum lw_err e;
    bool own;

    if (id)
        *id = 0;
    if ((e = lw_wtxn_writable(db)) || (e = check_by(db, by)) ||
        (e = check_name(db, "a user", name)) ||
        (e = check_roles(db, roles, LW_ROLE_ALL)) ||
        (password && (e = check_password(db, password))))
        return e;
    if (password && (e = hash_password(db, password, hash)))
        return e;
    e = lw_wtxn_begin(db, SAVEPOINT, &own);
    if (e)
        goto out_wipe;
    e = name_free(db, name, now_ms);
    if (e)
        goto out_end;
    st = lw_db_stmt(db, SQL_USER_ADD, &e);
    if (!st)
        goto out_end;
    lw_db_bind_text(db, st, 1, name);
    lw_db_bind_int(db, st, 2, (int)roles);
    lw_db_bind_text(db, st, 3, password ? hash : NULL);
    lw_db_bind_int64(db, st, 4, now_ms);
    lw_db_bind_int64(db, st, 5, password ? now_ms : 0);
    e = lw_db_run(db, st, "adding a user");
    if (e)
        goto out_end;
    if (id)
        *id = lw_db_last_rowid(db);
    snprintf(detail, sizeof(detail), "user=%s roles=%s%s", name,
             lw_access_roles_format(roles, rs, sizeof(rs)),
             password ? "" : " password=none");
    e = audit(s, by, "user add", detail, now_ms);
out_end:
    e = lw_wtxn_end(db, SAVEPOINT, own, e);
    if (e && id)
        *id = 0;
out_wipe:
    sodium_memzero(hash, sizeof(hash));
    return e;
}

enum lw_err lw_user_passwd(struct lw_store *s, const char *name,
                           const char *password, const struct lw_audit_rec *by,
                           int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    char hash[LW_USER_HASH_MAX + 1] = "", detail[96];
    enum lw_err e;
    bool own;

    if ((e = lw_wtxn_writable(db)) || (e = check_by(db, by)))
        return e;
    if (!name || !password) {
        lw_db_seterr(db, "no user name or no password");
        return LW_ERR_INVAL;
    }
    if ((e = check_password(db, password)) ||
        (e = hash_password(db, password, hash)))
        return e;
    e = lw_wtxn_begin(db, SAVEPOINT, &own);
    if (e)
        goto out_wipe;
    e = update_user(db, SQL_USER_PASSWD, name, hash, 0, now_ms);
    if (e == LW_OK) {
        snprintf(detail, sizeof(detail), "user=%s", name);
        e = audit(s, by, "user passwd", detail, now_ms);
    }
    e = lw_wtxn_end(db, SAVEPOINT, own, e);
out_wipe:
    sodium_memzero(hash, sizeof(hash));
    return e;
}

/* Reads user name with its hash into *r. */
static enum lw_err get_user(struct lw_db *db, const char *name,
                            struct user_row *r)
{
    enum lw_err e;
    sqlite3_stmt *st;

    memset(r, 0, sizeof(*r));
    if (!lw_db_sqlite(db) || !name)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, SQL_USER_GET, &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, name);
    e = lw_db_get_row(db, st, decode_user, r, "reading a user");
    if (e == LW_ERR_NOTFOUND)
        lw_db_seterr(db, "no user %s", name);
    return e;
}

enum lw_err lw_user_set_disabled(struct lw_store *s, const char *name,
                                 bool disabled, const struct lw_audit_rec *by,
                                 int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    struct user_row r;
    char detail[96];
    enum lw_err e;
    bool own;

    if ((e = lw_wtxn_writable(db)) || (e = check_by(db, by)))
        return e;
    if (!name) {
        lw_db_seterr(db, "no user name");
        return LW_ERR_INVAL;
    }
    e = lw_wtxn_begin(db, SAVEPOINT, &own);
    if (e)
        return e;
    e = get_user(db, name, &r);
    if (e || r.u.disabled == disabled)
        goto out_end;
    e = update_user(db, SQL_USER_DISABLE, name, NULL, disabled ? 1 : 0, now_ms);
    if (e == LW_OK) {
        snprintf(detail, sizeof(detail), "user=%s", name);
        e = audit(s, by, disabled ? "user disable" : "user enable", detail,
                  now_ms);
    }
out_end:
    sodium_memzero(r.hash, sizeof(r.hash));
    return lw_wtxn_end(db, SAVEPOINT, own, e);
}

enum lw_err lw_user_set_roles(struct lw_store *s, const char *name,
                              unsigned roles, const struct lw_audit_rec *by,
                              int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    struct user_row r;
    char detail[128], was[32], now[32];
    enum lw_err e;
    bool own;

    if ((e = lw_wtxn_writable(db)) || (e = check_by(db, by)) ||
        (e = check_roles(db, roles, LW_ROLE_ALL)))
        return e;
    if (!name) {
        lw_db_seterr(db, "no user name");
        return LW_ERR_INVAL;
    }
    e = lw_wtxn_begin(db, SAVEPOINT, &own);
    if (e)
        return e;
    e = get_user(db, name, &r);
    if (e || r.u.roles == roles)
        goto out_end;
    e = update_user(db, SQL_USER_ROLES, name, NULL, (int64_t)roles, now_ms);
    if (e == LW_OK) {
        snprintf(detail, sizeof(detail), "user=%s roles=%s -> %s", name,
                 lw_access_roles_format(r.u.roles, was, sizeof(was)),
                 lw_access_roles_format(roles, now, sizeof(now)));
        e = audit(s, by, "user roles", detail, now_ms);
    }
out_end:
    sodium_memzero(r.hash, sizeof(r.hash));
    return lw_wtxn_end(db, SAVEPOINT, own, e);
}

enum lw_err lw_user_get(struct lw_store *s, const char *name,
                        struct lw_user *out)
{
    struct user_row r;
    enum lw_err e;

    if (!out)
        return LW_ERR_INVAL;
    e = get_user(lw_store_db(s), name, &r);
    *out = r.u;
    sodium_memzero(r.hash, sizeof(r.hash));
    return e;
}

/* lw_db_visit_fn of lw_user_list. */
static int visit_user(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct user_row r;
    int stop;

    decode_user(st, &r);
    sodium_memzero(r.hash, sizeof(r.hash));
    stop = (*(const lw_user_cb *)cbp)(ctx, &r.u);
    return stop;
}

enum lw_err lw_user_list(struct lw_store *s, lw_user_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!lw_db_sqlite(db) || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, SQL_USER_LIST, &e);
    if (!st)
        return e;
    return lw_db_each_row(db, st, visit_user, &cb, ctx, "listing users");
}

bool lw_user_password_check(const char *hash, const char *password)
{
    bool real = hash && hash[0];

    if (!password || sodium_init() < 0)
        return false;
    /* verify against the dummy when there is no hash: the same cost */
    if (crypto_pwhash_str_verify(real ? hash : DUMMY_HASH, password,
                                 strlen(password)) != 0)
        return false;
    return real;
}

enum lw_err lw_user_hash_get(struct lw_store *s, const char *name,
                             char hash[LW_USER_HASH_MAX + 1],
                             struct lw_user *out)
{
    struct user_row r;
    enum lw_err e;

    if (!hash)
        return LW_ERR_INVAL;
    hash[0] = '\0';
    e = get_user(lw_store_db(s), name, &r);
    if (e == LW_OK && !r.u.has_password)
        e = LW_ERR_NOTFOUND;
    if (e == LW_OK) {
        memcpy(hash, r.hash, sizeof(r.hash));
        if (out)
            *out = r.u;
    }
    sodium_memzero(r.hash, sizeof(r.hash));
    return e;
}

enum lw_err lw_user_login(struct lw_store *s, const char *name,
                          const char *password, struct lw_user *out)
{
    struct user_row r;
    enum lw_err e;
    bool ok;

    if (out)
        memset(out, 0, sizeof(*out));
    if (!name || !password)
        return LW_ERR_INVAL;
    e = get_user(lw_store_db(s), name, &r);
    if (e != LW_OK && e != LW_ERR_NOTFOUND)
        return e;
    /* always one verify: an unknown name costs what a known one does */
    ok = lw_user_password_check(e == LW_OK ? r.hash : NULL, password);
    sodium_memzero(r.hash, sizeof(r.hash));
    if (e != LW_OK || !ok || r.u.disabled)
        return LW_ERR_NOTFOUND;
    if (out)
        *out = r.u;
    return LW_OK;
}

/* ---- tokens -------------------------------------------------------------- */

/* SHA-256 of text, as 64 lowercase hex digits, into hex. */
static void token_hash(const char *text, char hex[LW_TOKEN_HASH_HEX + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
    sodium_bin2hex(hex, LW_TOKEN_HASH_HEX + 1, h, sizeof(h));
}

enum lw_err lw_token_create(struct lw_store *s, const char *name,
                            unsigned roles, int64_t expires_ms,
                            const struct lw_audit_rec *by, int64_t now_ms,
                            char text[LW_TOKEN_TEXT_LEN + 1], int64_t *id)
{
    struct lw_db *db = lw_store_db(s);
    unsigned char raw[TOKEN_BYTES];
    char hex[LW_TOKEN_HASH_HEX + 1], detail[160], rs[32], when[40];
    sqlite3_stmt *st;
    enum lw_err e;
    bool own;

    if (id)
        *id = 0;
    if (!text)
        return LW_ERR_INVAL;
    text[0] = '\0';
    if ((e = lw_wtxn_writable(db)) || (e = check_by(db, by)) ||
        (e = check_name(db, "a token", name)) ||
        (e = check_roles(db, roles, LW_ROLE_AGENT | LW_ROLE_OPS)))
        return e;
    if (expires_ms != 0 && expires_ms <= now_ms) {
        lw_db_seterr(db, "a token's expiry must be in the future");
        return LW_ERR_INVAL;
    }
    if (sodium_init() < 0) {
        lw_db_seterr(db, "libsodium could not be initialised");
        return LW_ERR_NOMEM;
    }
    randombytes_buf(raw, sizeof(raw));
    memcpy(text, LW_TOKEN_PREFIX, sizeof(LW_TOKEN_PREFIX) - 1);
    sodium_bin2base64(text + sizeof(LW_TOKEN_PREFIX) - 1,
                      LW_TOKEN_TEXT_LEN + 1 - (sizeof(LW_TOKEN_PREFIX) - 1),
                      raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    token_hash(text, hex);

    e = lw_wtxn_begin(db, SAVEPOINT, &own);
    if (e)
        goto out_wipe;
    e = name_free(db, name, now_ms);
    if (e)
        goto out_end;
    st = lw_db_stmt(db, SQL_TOKEN_ADD, &e);
    if (!st)
        goto out_end;
    lw_db_bind_text(db, st, 1, name);
    lw_db_bind_int(db, st, 2, (int)roles);
    lw_db_bind_text(db, st, 3, hex);
    lw_db_bind_int64(db, st, 4, now_ms);
    lw_db_bind_int64(db, st, 5, expires_ms);
    e = lw_db_run(db, st, "adding a token");
    if (e)
        goto out_end;
    if (id)
        *id = lw_db_last_rowid(db);
    snprintf(detail, sizeof(detail), "token=%s roles=%s expires=%s", name,
             lw_access_roles_format(roles, rs, sizeof(rs)),
             expires_ms ? lw_time_format(expires_ms, when, sizeof(when))
                        : "never");
    e = audit(s, by, "token create", detail, now_ms);
out_end:
    e = lw_wtxn_end(db, SAVEPOINT, own, e);
out_wipe:
    if (e) {
        sodium_memzero(text, LW_TOKEN_TEXT_LEN + 1);
        if (id)
            *id = 0;
    }
    return e;
}

enum lw_err lw_token_revoke(struct lw_store *s, const char *name,
                            const struct lw_audit_rec *by, int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    char detail[96];
    sqlite3_stmt *st;
    int64_t tid;
    enum lw_err e;
    bool own;

    if ((e = lw_wtxn_writable(db)) || (e = check_by(db, by)))
        return e;
    if (!name) {
        lw_db_seterr(db, "no token name");
        return LW_ERR_INVAL;
    }
    e = lw_wtxn_begin(db, SAVEPOINT, &own);
    if (e)
        return e;
    e = find_id(db, SQL_TOKEN_VALID_ID, name, now_ms, &tid);
    if (e == LW_ERR_NOTFOUND)
        lw_db_seterr(db, "%s has no valid token", name);
    if (e)
        goto out_end;
    st = lw_db_stmt(db, SQL_TOKEN_REVOKE, &e);
    if (!st)
        goto out_end;
    lw_db_bind_int64(db, st, 1, tid);
    lw_db_bind_int64(db, st, 2, now_ms);
    e = lw_db_run(db, st, "revoking a token");
    if (e)
        goto out_end;
    snprintf(detail, sizeof(detail), "token=%s id=%lld", name, (long long)tid);
    e = audit(s, by, "token revoke", detail, now_ms);
out_end:
    return lw_wtxn_end(db, SAVEPOINT, own, e);
}

enum lw_err lw_token_lookup(struct lw_store *s, const char *text,
                            int64_t now_ms, struct lw_token *out)
{
    struct lw_db *db = lw_store_db(s);
    char hex[LW_TOKEN_HASH_HEX + 1];
    struct lw_token t;
    sqlite3_stmt *st;
    enum lw_err e;

    if (!lw_db_sqlite(db) || !text || !out)
        return LW_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    if (strlen(text) != LW_TOKEN_TEXT_LEN ||
        strncmp(text, LW_TOKEN_PREFIX, sizeof(LW_TOKEN_PREFIX) - 1) != 0)
        return LW_ERR_NOTFOUND;
    if (sodium_init() < 0) {
        lw_db_seterr(db, "libsodium could not be initialised");
        return LW_ERR_NOMEM;
    }
    token_hash(text, hex);
    st = lw_db_stmt(db, SQL_TOKEN_BY_HASH, &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, hex);
    e = lw_db_get_row(db, st, decode_token, &t, "looking up a token");
    if (e)
        return e;
    if (t.revoked_ms != 0 || (t.expires_ms != 0 && t.expires_ms <= now_ms))
        return LW_ERR_NOTFOUND;
    *out = t;
    return LW_OK;
}

enum lw_err lw_token_touch(struct lw_store *s, int64_t id, int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if ((e = lw_wtxn_writable(db)))
        return e;
    st = lw_db_stmt(db, SQL_TOKEN_TOUCH, &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    lw_db_bind_int64(db, st, 2, now_ms);
    lw_db_bind_int64(db, st, 3, TOUCH_EVERY_MS);
    return lw_db_run(db, st, "recording a token's use");
}

static int visit_token(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct lw_token t;

    decode_token(st, &t);
    return (*(const lw_token_cb *)cbp)(ctx, &t);
}

enum lw_err lw_token_list(struct lw_store *s, lw_token_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!lw_db_sqlite(db) || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, SQL_TOKEN_LIST, &e);
    if (!st)
        return e;
    return lw_db_each_row(db, st, visit_token, &cb, ctx, "listing tokens");
}
