/*
 * test_users.c - unit tests for lib/users.c: names, users (add, passwords,
 * sign-in, disable, roles, list), bearer tokens (create, look up, revoke,
 * expiry, one name space), the audit record of every change and that a
 * change is all or nothing with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lienwatch/access.h"
#include "lienwatch/audit.h"
#include "lienwatch/store.h"
#include "lienwatch/users.h"

#define T0 1795000000000LL /* 2026-11-18, some time */
#define PW "correct horse battery"

static const struct lw_audit_rec BY = {
    .who = "opsadmin", .via = "cli", .os_detail = "uid=0"};

static struct lw_store *open_ok(const char *path, int flags)
{
    struct lw_store *s = NULL;
    char err[256] = "";
    enum lw_err e = lw_store_open(&s, path, flags, err, sizeof(err));

    if (e != LW_OK)
        fail_msg("open %s: %s", path, err);
    return s;
}

/* Audit records, collected. */
struct recs {
    int n;
    char action[32][32];
    char detail[32][200];
    char who[32][64];
    char via[32][16];
    bool mentions[32]; /* a secret seen in any field */
    const char *secret;
};

static bool has(const char *field, const char *secret)
{
    return field && secret && strstr(field, secret);
}

static int collect(void *ctx, const struct lw_audit_entry *a)
{
    struct recs *r = ctx;

    if (r->n >= 32)
        return 1;
    snprintf(r->action[r->n], 32, "%s", a->action);
    snprintf(r->detail[r->n], 200, "%s", a->detail ? a->detail : "");
    snprintf(r->who[r->n], 64, "%s", a->who);
    snprintf(r->via[r->n], 16, "%s", a->via ? a->via : "");
    r->mentions[r->n] = has(a->detail, r->secret) ||
                        has(a->reason, r->secret) || has(a->as_name, r->secret);
    r->n++;
    return 0;
}

static void audit_of(struct lw_store *s, struct recs *r, const char *secret)
{
    memset(r, 0, sizeof(*r));
    r->secret = secret;
    assert_int_equal(lw_audit_list(s, NULL, collect, r), LW_OK);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(lw_user_name_valid("alice"));
    assert_true(lw_user_name_valid("a.b_c-d@e"));
    assert_true(lw_user_name_valid("7up"));
    assert_false(lw_user_name_valid(""));
    assert_false(lw_user_name_valid(NULL));
    assert_false(lw_user_name_valid(".alice"));
    assert_false(lw_user_name_valid("-alice"));
    assert_false(lw_user_name_valid("al ice"));
    assert_false(lw_user_name_valid("al/ice"));
    assert_false(lw_user_name_valid("<img>"));
    assert_false(lw_user_name_valid("al\nice"));
    assert_false(lw_user_name_valid("ali\xc3\xa7"));
    char n64[65], n65[66];
    memset(n64, 'a', 64);
    n64[64] = '\0';
    memset(n65, 'a', 65);
    n65[65] = '\0';
    assert_true(lw_user_name_valid(n64));
    assert_false(lw_user_name_valid(n65));
}

static void test_add_and_login(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_user u;
    struct recs r;
    char hash[LW_USER_HASH_MAX + 1];
    int64_t id = 0;

    (void)state;
    assert_int_equal(lw_user_add(s, "alice", LW_ROLE_AGENT, PW, &BY, T0, &id),
                     LW_OK);
    assert_true(id > 0);
    assert_int_equal(lw_user_get(s, "alice", &u), LW_OK);
    assert_int_equal(u.id, id);
    assert_string_equal(u.name, "alice");
    assert_int_equal(u.roles, LW_ROLE_AGENT);
    assert_false(u.disabled);
    assert_true(u.has_password);
    assert_int_equal(u.created_ms, T0);
    assert_int_equal(u.password_ms, T0);

    /* stored as argon2id, never the password */
    assert_int_equal(lw_user_hash_get(s, "alice", hash, NULL), LW_OK);
    assert_memory_equal(hash, "$argon2id$", 10);
    assert_null(strstr(hash, PW));

    memset(&u, 0, sizeof(u));
    assert_int_equal(lw_user_login(s, "alice", PW, &u), LW_OK);
    assert_string_equal(u.name, "alice");
    assert_int_equal(lw_user_login(s, "alice", PW "x", &u), LW_ERR_NOTFOUND);
    assert_string_equal(u.name, "");
    assert_int_equal(lw_user_login(s, "nobody", PW, NULL), LW_ERR_NOTFOUND);
    assert_int_equal(lw_user_login(s, "alice", "", NULL), LW_ERR_NOTFOUND);

    /* the audit record: who, what, never the password */
    audit_of(s, &r, PW);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.action[0], "user add");
    assert_string_equal(r.who[0], "opsadmin");
    assert_string_equal(r.via[0], "cli");
    assert_string_equal(r.detail[0], "user=alice roles=agent");
    assert_false(r.mentions[0]);
    lw_store_close(s);
}

static void test_add_refused(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_audit_rec anon = {.who = ""};
    struct recs r;
    int64_t id = 5;

    (void)state;
    assert_int_equal(
        lw_user_add(s, "bob", LW_ROLE_OPS | LW_ROLE_ADMIN, NULL, &BY, T0, NULL),
        LW_OK);
    /* taken, case-sensitive */
    assert_int_equal(lw_user_add(s, "bob", LW_ROLE_OPS, NULL, &BY, T0, &id),
                     LW_ERR_EXISTS);
    assert_int_equal(id, 0);
    assert_non_null(strstr(lw_store_errmsg(s), "bob is the name of a user"));
    assert_int_equal(lw_user_add(s, "Bob", LW_ROLE_OPS, NULL, &BY, T0, NULL),
                     LW_OK);
    /* bad names, roles, passwords, identities */
    assert_int_equal(lw_user_add(s, "b b", LW_ROLE_OPS, NULL, &BY, T0, NULL),
                     LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(s), "letters, digits"));
    assert_int_equal(lw_user_add(s, "c", 0, NULL, &BY, T0, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_user_add(s, "c", 8, NULL, &BY, T0, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_user_add(s, "c", LW_ROLE_OPS, "short", &BY, T0, NULL),
                     LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(s), "8 to 1024 bytes"));
    assert_int_equal(lw_user_add(s, "c", LW_ROLE_OPS, NULL, &anon, T0, NULL),
                     LW_ERR_INVAL);
    assert_int_equal(lw_user_add(s, "c", LW_ROLE_OPS, NULL, NULL, T0, NULL),
                     LW_ERR_INVAL);
    assert_int_equal(lw_user_add(NULL, "c", LW_ROLE_OPS, NULL, &BY, T0, NULL),
                     LW_ERR_INVAL);

    /* a user without a password cannot sign in */
    assert_int_equal(lw_user_login(s, "bob", "", NULL), LW_ERR_NOTFOUND);
    assert_int_equal(lw_user_login(s, "bob", PW, NULL), LW_ERR_NOTFOUND);

    audit_of(s, &r, NULL);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.detail[0], "user=bob roles=ops,admin password=none");
    lw_store_close(s);
}

/* A change whose audit record cannot be written is not made. */
static void test_all_or_nothing(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_audit_rec big = BY;
    struct lw_user u;
    struct recs r;
    char *huge = malloc(LW_AUDIT_TEXT_MAX + 2);

    (void)state;
    memset(huge, 'x', LW_AUDIT_TEXT_MAX + 1);
    huge[LW_AUDIT_TEXT_MAX + 1] = '\0';
    big.os_detail = huge;
    assert_int_equal(lw_user_add(s, "dave", LW_ROLE_OPS, NULL, &big, T0, NULL),
                     LW_ERR_RANGE);
    assert_int_equal(lw_user_get(s, "dave", &u), LW_ERR_NOTFOUND);

    /* in the caller's transaction: rolled back with it */
    assert_int_equal(lw_store_begin(s), LW_OK);
    assert_int_equal(lw_user_add(s, "erin", LW_ROLE_OPS, NULL, &BY, T0, NULL),
                     LW_OK);
    /* a failure inside it undoes that write alone */
    assert_int_equal(lw_user_add(s, "fred", LW_ROLE_OPS, NULL, &big, T0, NULL),
                     LW_ERR_RANGE);
    assert_int_equal(lw_user_get(s, "erin", &u), LW_OK);
    assert_int_equal(lw_store_rollback(s), LW_OK);
    assert_int_equal(lw_user_get(s, "erin", &u), LW_ERR_NOTFOUND);
    audit_of(s, &r, NULL);
    assert_int_equal(r.n, 0);
    free(huge);
    lw_store_close(s);
}

static void test_passwd_disable_roles(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_user u;
    struct recs r;

    (void)state;
    assert_int_equal(lw_user_add(s, "alice", LW_ROLE_AGENT, PW, &BY, T0, NULL),
                     LW_OK);
    assert_int_equal(lw_user_passwd(s, "alice", "new password", &BY, T0 + 1000),
                     LW_OK);
    assert_int_equal(lw_user_login(s, "alice", PW, NULL), LW_ERR_NOTFOUND);
    assert_int_equal(lw_user_login(s, "alice", "new password", NULL), LW_OK);
    assert_int_equal(lw_user_passwd(s, "nobody", "new password", &BY, T0),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_user_passwd(s, "alice", "1234567", &BY, T0),
                     LW_ERR_INVAL);
    assert_int_equal(lw_user_get(s, "alice", &u), LW_OK);
    assert_int_equal(u.password_ms, T0 + 1000);

    /* disabled: refused like a wrong password; twice records once */
    assert_int_equal(lw_user_set_disabled(s, "alice", true, &BY, T0 + 2000),
                     LW_OK);
    assert_int_equal(lw_user_set_disabled(s, "alice", true, &BY, T0 + 3000),
                     LW_OK);
    assert_int_equal(lw_user_login(s, "alice", "new password", NULL),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_user_get(s, "alice", &u), LW_OK);
    assert_true(u.disabled);
    assert_int_equal(u.updated_ms, T0 + 2000);
    assert_int_equal(lw_user_set_disabled(s, "alice", false, &BY, T0 + 4000),
                     LW_OK);
    assert_int_equal(lw_user_login(s, "alice", "new password", NULL), LW_OK);
    assert_int_equal(lw_user_set_disabled(s, "zed", true, &BY, T0),
                     LW_ERR_NOTFOUND);

    assert_int_equal(lw_user_set_roles(s, "alice", LW_ROLE_AGENT | LW_ROLE_OPS,
                                       &BY, T0 + 5000),
                     LW_OK);
    assert_int_equal(lw_user_set_roles(s, "alice", 0, &BY, T0), LW_ERR_INVAL);
    assert_int_equal(lw_user_get(s, "alice", &u), LW_OK);
    assert_int_equal(u.roles, LW_ROLE_AGENT | LW_ROLE_OPS);

    audit_of(s, &r, "new password");
    assert_int_equal(r.n, 5);
    assert_string_equal(r.action[1], "user passwd");
    assert_string_equal(r.action[2], "user disable");
    assert_string_equal(r.action[3], "user enable");
    assert_string_equal(r.action[4], "user roles");
    assert_string_equal(r.detail[4], "user=alice roles=agent -> agent,ops");
    for (int i = 0; i < r.n; i++)
        assert_false(r.mentions[i]);
    lw_store_close(s);
}

struct names {
    int n;
    char name[8][LW_USER_NAME_MAX + 16];
};

static int collect_user(void *ctx, const struct lw_user *u)
{
    struct names *n = ctx;

    snprintf(n->name[n->n++], sizeof(n->name[0]), "%s", u->name);
    return n->n >= 8;
}

static void test_list_and_readonly(void **state)
{
    char path[] = "/tmp/lw-test-users-XXXXXX", side[sizeof(path) + 4];
    int fd = mkstemp(path);
    struct lw_store *s, *ro;
    struct names n = {0};
    struct lw_user u;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    s = open_ok(path, 0);
    assert_int_equal(lw_user_add(s, "zoe", LW_ROLE_OPS, NULL, &BY, T0, NULL),
                     LW_OK);
    assert_int_equal(lw_user_add(s, "adam", LW_ROLE_AGENT, NULL, &BY, T0, NULL),
                     LW_OK);
    assert_int_equal(lw_user_list(s, collect_user, &n), LW_OK);
    assert_int_equal(n.n, 2);
    assert_string_equal(n.name[0], "adam");
    assert_string_equal(n.name[1], "zoe");

    ro = open_ok(path, LW_STORE_RDONLY);
    assert_int_equal(lw_user_get(ro, "zoe", &u), LW_OK);
    assert_int_equal(lw_user_add(ro, "x", LW_ROLE_OPS, NULL, &BY, T0, NULL),
                     LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(ro), "read-only"));
    assert_int_equal(lw_user_set_disabled(ro, "zoe", true, &BY, T0),
                     LW_ERR_INVAL);
    lw_store_close(ro);
    lw_store_close(s);
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static void test_password_check(void **state)
{
    char hash[LW_USER_HASH_MAX + 1];
    struct lw_store *s = open_ok(":memory:", 0);

    (void)state;
    assert_int_equal(lw_user_add(s, "alice", LW_ROLE_AGENT, PW, &BY, T0, NULL),
                     LW_OK);
    assert_int_equal(lw_user_hash_get(s, "alice", hash, NULL), LW_OK);
    assert_true(lw_user_password_check(hash, PW));
    assert_false(lw_user_password_check(hash, PW " "));
    assert_false(lw_user_password_check("", PW));
    assert_false(lw_user_password_check(NULL, PW));
    assert_false(lw_user_password_check("$argon2id$garbage", PW));
    assert_false(lw_user_password_check(hash, NULL));
    lw_store_close(s);
}

/* ---- tokens -------------------------------------------------------------- */

static void test_tokens(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    char text[LW_TOKEN_TEXT_LEN + 1], text2[LW_TOKEN_TEXT_LEN + 1];
    struct lw_token t;
    struct recs r;
    int64_t id = 0;

    (void)state;
    assert_int_equal(
        lw_token_create(s, "servicing", LW_ROLE_OPS, 0, &BY, T0, text, &id),
        LW_OK);
    assert_true(id > 0);
    assert_int_equal(strlen(text), LW_TOKEN_TEXT_LEN);
    assert_memory_equal(text, LW_TOKEN_PREFIX, 4);
    for (size_t i = 4; i < strlen(text); i++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                               "tuvwxyz0123456789-_",
                               text[i]));

    assert_int_equal(lw_token_lookup(s, text, T0 + 1, &t), LW_OK);
    assert_int_equal(t.id, id);
    assert_string_equal(t.name, "servicing");
    assert_int_equal(t.roles, LW_ROLE_OPS);
    assert_int_equal(t.revoked_ms, 0);

    /* a changed character, a prefix, garbage: not found */
    memcpy(text2, text, sizeof(text));
    text2[10] = text2[10] == 'A' ? 'B' : 'A';
    assert_int_equal(lw_token_lookup(s, text2, T0, &t), LW_ERR_NOTFOUND);
    text2[10] = '\0';
    assert_int_equal(lw_token_lookup(s, text2, T0, &t), LW_ERR_NOTFOUND);
    assert_int_equal(lw_token_lookup(s, "", T0, &t), LW_ERR_NOTFOUND);
    assert_int_equal(lw_token_lookup(s, "' OR 1=1 --", T0, &t),
                     LW_ERR_NOTFOUND);

    /* one valid token per name; no user's name */
    assert_int_equal(
        lw_token_create(s, "servicing", LW_ROLE_OPS, 0, &BY, T0, text2, NULL),
        LW_ERR_EXISTS);
    assert_string_equal(text2, "");
    assert_int_equal(
        lw_user_add(s, "alice", LW_ROLE_AGENT, NULL, &BY, T0, NULL), LW_OK);
    assert_int_equal(
        lw_token_create(s, "alice", LW_ROLE_AGENT, 0, &BY, T0, text2, NULL),
        LW_ERR_EXISTS);
    assert_int_equal(
        lw_user_add(s, "servicing", LW_ROLE_OPS, NULL, &BY, T0, NULL),
        LW_ERR_EXISTS);
    /* a token never administers; expiry in the future */
    assert_int_equal(
        lw_token_create(s, "adm", LW_ROLE_ADMIN, 0, &BY, T0, text2, NULL),
        LW_ERR_INVAL);
    assert_int_equal(
        lw_token_create(s, "old", LW_ROLE_OPS, T0, &BY, T0, text2, NULL),
        LW_ERR_INVAL);

    /* revoke: gone; the name can be reused */
    assert_int_equal(lw_token_revoke(s, "servicing", &BY, T0 + 10), LW_OK);
    assert_int_equal(lw_token_lookup(s, text, T0 + 11, &t), LW_ERR_NOTFOUND);
    assert_int_equal(lw_token_revoke(s, "servicing", &BY, T0 + 12),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_token_create(s, "servicing", LW_ROLE_OPS, 0, &BY,
                                     T0 + 20, text2, NULL),
                     LW_OK);
    assert_string_not_equal(text, text2);
    assert_int_equal(lw_token_lookup(s, text2, T0 + 21, &t), LW_OK);

    /* expiry */
    assert_int_equal(lw_token_create(s, "tablet", LW_ROLE_AGENT, T0 + 1000, &BY,
                                     T0, text, NULL),
                     LW_OK);
    assert_int_equal(lw_token_lookup(s, text, T0 + 999, &t), LW_OK);
    assert_int_equal(lw_token_lookup(s, text, T0 + 1000, &t), LW_ERR_NOTFOUND);
    /* an expired token's name is free again */
    assert_int_equal(lw_token_create(s, "tablet", LW_ROLE_AGENT, 0, &BY,
                                     T0 + 2000, text2, NULL),
                     LW_OK);

    audit_of(s, &r, NULL);
    assert_int_equal(r.n, 6);
    assert_string_equal(r.action[0], "token create");
    assert_string_equal(r.detail[0], "token=servicing roles=ops "
                                     "expires=never");
    assert_string_equal(r.action[2], "token revoke");
    /* the token itself is in no record */
    audit_of(s, &r, text);
    for (int i = 0; i < r.n; i++)
        assert_false(r.mentions[i]);
    audit_of(s, &r, text2 + 4);
    for (int i = 0; i < r.n; i++)
        assert_false(r.mentions[i]);
    lw_store_close(s);
}

/* The stored hash is SHA-256 of the text, and the text is not stored. */
static void test_token_storage(void **state)
{
    char path[] = "/tmp/lw-test-tokens-XXXXXX";
    int fd = mkstemp(path);
    struct lw_store *s;
    char text[LW_TOKEN_TEXT_LEN + 1];
    sqlite3 *db;
    sqlite3_stmt *st;
    int rows = 0;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    s = open_ok(path, 0);
    assert_int_equal(
        lw_token_create(s, "dash", LW_ROLE_OPS, 0, &BY, T0, text, NULL), LW_OK);
    lw_store_close(s);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT hash FROM tokens", -1, &st, NULL),
        SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);

        rows++;
        assert_int_equal(strlen(h), 64);
        assert_null(strstr(h, text + 4));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(rows, 1);
    unlink(path);
}

static int collect_token(void *ctx, const struct lw_token *t)
{
    struct names *n = ctx;

    snprintf(n->name[n->n++], sizeof(n->name[0]), "%s:%s", t->name,
             t->revoked_ms ? "revoked" : "valid");
    return n->n >= 8;
}

static void test_token_list_touch(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    char text[LW_TOKEN_TEXT_LEN + 1];
    struct names n = {0};
    struct lw_token t;
    int64_t id;

    (void)state;
    assert_int_equal(
        lw_token_create(s, "b", LW_ROLE_OPS, 0, &BY, T0, text, &id), LW_OK);
    assert_int_equal(lw_token_revoke(s, "b", &BY, T0), LW_OK);
    assert_int_equal(
        lw_token_create(s, "b", LW_ROLE_OPS, 0, &BY, T0, text, &id), LW_OK);
    assert_int_equal(lw_token_create(s, "a", LW_ROLE_AGENT | LW_ROLE_OPS, 0,
                                     &BY, T0, text, NULL),
                     LW_OK);
    assert_int_equal(lw_token_list(s, collect_token, &n), LW_OK);
    assert_int_equal(n.n, 3);
    assert_string_equal(n.name[0], "a:valid");
    assert_string_equal(n.name[1], "b:revoked");
    assert_string_equal(n.name[2], "b:valid");

    assert_int_equal(lw_token_lookup(s, text, T0, &t), LW_OK); /* "a" */
    assert_int_equal(t.last_used_ms, 0);
    assert_int_equal(lw_token_touch(s, t.id, T0 + 100000), LW_OK);
    assert_int_equal(lw_token_touch(s, t.id, T0 + 130000), LW_OK); /* < 1 min */
    assert_int_equal(lw_token_touch(s, 999, T0), LW_OK);
    assert_int_equal(lw_token_lookup(s, text, T0, &t), LW_OK);
    assert_int_equal(t.last_used_ms, T0 + 100000);
    assert_int_equal(lw_token_touch(s, t.id, T0 + 160001), LW_OK);
    assert_int_equal(lw_token_lookup(s, text, T0, &t), LW_OK);
    assert_int_equal(t.last_used_ms, T0 + 160001);
    (void)id;
    lw_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_add_and_login),
        cmocka_unit_test(test_add_refused),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_passwd_disable_roles),
        cmocka_unit_test(test_list_and_readonly),
        cmocka_unit_test(test_password_check),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_token_storage),
        cmocka_unit_test(test_token_list_touch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
