/*
 * audit.c - the audit trail (audit.h) on the store's connection.
 *
 * Table audit (schema migrations 1 and 5): id (insertion order), at_ms, who,
 * action, device, reason (migration 1), role, via, as_name, os_detail,
 * client, case_id, basis, detail and hash (migration 5; NULL where not
 * known), with the indexes audit_by_device (device, id) and audit_by_case
 * (case_id, id), and the triggers audit_no_update, audit_no_delete (refuse
 * both) and audit_chained (refuses a record without a well-formed hash or
 * with an id that is not past the last). The chain's encoding is in
 * auditchain.c.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "auditchain.h"
#include "db.h"
#include "lienwatch/audit.h"
#include "store_priv.h"

/* The record columns in chain order, then the stored hash. */
#define COLS                                                                   \
    "id, at_ms, who, action, device, reason, role, via, as_name, "             \
    "os_detail, client, case_id, basis, detail, hash"
#define A_COLS                                                                 \
    "a.id, a.at_ms, a.who, a.action, a.device, a.reason, a.role, a.via, "      \
    "a.as_name, a.os_detail, a.client, a.case_id, a.basis, a.detail, a.hash"
/* Column indexes of a COLS row. */
#define C_ID 0
#define C_AT 1
#define C_TEXT 2 /* the first of the LW_AUDIT_NTEXT texts */
#define C_HASH (C_TEXT + LW_AUDIT_NTEXT)
#define C_PREV (C_HASH + 1) /* the listing's extra column */

static const char SQL_LAST[] =
    "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1";
static const char SQL_ADD[] =
    "INSERT INTO audit (" COLS ") "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/* A listing: the records, each with the hash it chains to. */
#define LIST_SELECT                                                            \
    "SELECT " A_COLS ", (SELECT p.hash FROM audit p WHERE p.id < a.id "        \
    "ORDER BY p.id DESC LIMIT 1) FROM audit a "
#define LIST_FILTERS                                                           \
    " AND (?2 IS NULL OR a.who = ?2) AND (?3 IS NULL OR a.action = ?3) "       \
    "AND a.at_ms >= ?5 AND a.at_ms <= ?6 AND a.id > ?7 ORDER BY a.id LIMIT ?8"
/* (every statement numbers its parameters alike: ?1 device, ?4 case) */
static const char SQL_LIST_ALL[] = LIST_SELECT "WHERE 1" LIST_FILTERS;
static const char SQL_LIST_DEVICE[] = LIST_SELECT
    "WHERE a.device = ?1 AND (?4 IS NULL OR a.case_id = ?4)" LIST_FILTERS;
static const char SQL_LIST_CASE[] =
    LIST_SELECT "WHERE a.case_id = ?4" LIST_FILTERS;

static const char SQL_WALK[] = "SELECT " COLS " FROM audit ORDER BY id";
static const char SQL_GUARDS[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
    "tbl_name = 'audit' AND name IN ('audit_no_update', 'audit_no_delete', "
    "'audit_chained')";
/* How many triggers guard the table (migration 5). */
#define GUARDS 3
static const char SQL_ROW[] = "SELECT " COLS " FROM audit WHERE id = ?1";
static const char SQL_NEXT[] =
    "SELECT " COLS " FROM audit WHERE id > ?1 ORDER BY id LIMIT 1";

/* ---- appending ------------------------------------------------------------
 */

/* Decodes (id, hash) of the last record into a struct lw_audit_head. */
static void row_head(sqlite3_stmt *st, void *out)
{
    struct lw_audit_head *h = out;

    h->id = sqlite3_column_int64(st, 0);
    lw_db_col_copy(st, 1, h->hash, sizeof(h->hash));
}

/* Decodes a one-integer row into the int64_t at out. */
static void row_int64(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
}

/* The empty trail's head. */
static void head_empty(struct lw_audit_head *h)
{
    h->id = 0;
    memset(h->hash, '0', LW_AUDIT_HASH_HEX);
    h->hash[LW_AUDIT_HASH_HEX] = '\0';
}

/* The last record's id and hash, on db. */
static enum lw_err read_head(struct lw_db *db, struct lw_audit_head *h)
{
    sqlite3_stmt *st;
    enum lw_err e;

    head_empty(h);
    st = lw_db_stmt(db, SQL_LAST, &e);
    if (!st)
        return e;
    e = lw_db_get_row(db, st, row_head, h, "reading the audit trail's head");
    if (e == LW_ERR_NOTFOUND) {
        head_empty(h);
        return LW_OK;
    }
    return e;
}

/* Checks r's texts: who and action given, none too long. */
static enum lw_err check_rec(struct lw_db *db, const struct lw_audit_rec *r)
{
    struct lw_audit_texts t;
    int i;

    if (!r->who || !r->who[0] || !r->action || !r->action[0]) {
        lw_db_seterr(db, "audit record without who or action");
        return LW_ERR_INVAL;
    }
    lw_auditchain_texts(r, &t);
    for (i = 0; i < LW_AUDIT_NTEXT; i++)
        if (t.n[i] > LW_AUDIT_TEXT_MAX) {
            lw_db_seterr(db,
                         "audit record text of %zu bytes (at most %d are "
                         "kept)",
                         t.n[i], LW_AUDIT_TEXT_MAX);
            return LW_ERR_RANGE;
        }
    return LW_OK;
}

/* Chains r to *last (the trail's last record; updated to r) and inserts
 * it: in a write transaction. */
static enum lw_err chain_insert(struct lw_db *db, const struct lw_audit_rec *r,
                                struct lw_audit_head *last)
{
    unsigned char prev[LW_AUDIT_HASH_BYTES], h[LW_AUDIT_HASH_BYTES];
    sqlite3_stmt *st;
    enum lw_err e;
    int64_t id;

    if (!lw_auditchain_unhex(last->hash, strlen(last->hash), prev)) {
        lw_db_seterr(db,
                     "the audit trail's last record (%" PRId64 ") has no "
                     "valid hash: the trail was altered; run 'lienwatch "
                     "audit verify'",
                     last->id);
        return LW_ERR_CORRUPT;
    }
    if (last->id == INT64_MAX) {
        lw_db_seterr(db, "the audit trail has no id left");
        return LW_ERR_RANGE;
    }
    id = last->id + 1;
    lw_audit_hash(last->id ? prev : NULL, id, r, h);
    st = lw_db_stmt(db, SQL_ADD, &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    lw_db_bind_int64(db, st, 2, r->at_ms);
    lw_db_bind_text(db, st, 3, r->who);
    lw_db_bind_text(db, st, 4, r->action);
    lw_db_bind_text(db, st, 5, r->device);
    lw_db_bind_text(db, st, 6, r->reason);
    lw_db_bind_text(db, st, 7, r->role);
    lw_db_bind_text(db, st, 8, r->via);
    lw_db_bind_text(db, st, 9, r->as_name);
    lw_db_bind_text(db, st, 10, r->os_detail);
    lw_db_bind_text(db, st, 11, r->client);
    lw_db_bind_text(db, st, 12, r->case_id);
    lw_db_bind_text(db, st, 13, r->basis);
    lw_db_bind_text(db, st, 14, r->detail);
    lw_auditchain_hex(h, last->hash);
    lw_db_bind_text(db, st, 15, last->hash);
    e = lw_db_run(db, st, "recording an audit entry");
    if (e == LW_OK)
        last->id = id;
    return e;
}

/* Reads the head, chains the n records at r to it and inserts them: in a
 * write transaction. */
static enum lw_err append_locked(struct lw_db *db, const struct lw_audit_rec *r,
                                 size_t n, struct lw_audit_head *out)
{
    struct lw_audit_head last;
    enum lw_err e;

    e = read_head(db, &last);
    for (size_t i = 0; e == LW_OK && i < n; i++)
        e = chain_insert(db, &r[i], &last);
    if (e == LW_OK && out)
        *out = last;
    return e;
}

/* lw_audit_append and lw_audit_append_many. */
static enum lw_err append(struct lw_store *s, const struct lw_audit_rec *r,
                          size_t n, struct lw_audit_head *out)
{
    struct lw_db *db = lw_store_db(s);
    bool own;
    enum lw_err e;

    if (!lw_db_sqlite(db))
        return LW_ERR_INVAL;
    if (sqlite3_db_readonly(lw_db_sqlite(db), "main") == 1) {
        lw_db_seterr(db, "the store was opened read-only");
        return LW_ERR_INVAL;
    }
    if (!r) {
        lw_db_seterr(db, "no audit record");
        return LW_ERR_INVAL;
    }
    for (size_t i = 0; i < n; i++) {
        e = check_rec(db, &r[i]);
        if (e != LW_OK)
            return e;
    }
    if (sodium_init() < 0) {
        lw_db_seterr(db, "libsodium could not be initialised");
        return LW_ERR_NOMEM;
    }
    /* the read of the head and the inserts under one write lock: two
     * writers never chain to the same record */
    own = !lw_db_in_txn(db);
    if (own) {
        e = lw_db_begin(db);
        if (e != LW_OK)
            return e;
    }
    e = append_locked(db, r, n, out);
    if (own) {
        if (e == LW_OK)
            e = lw_db_commit(db);
        if (e != LW_OK && lw_db_in_txn(db))
            sqlite3_exec(lw_db_sqlite(db), "ROLLBACK", NULL, NULL, NULL);
    }
    return e;
}

enum lw_err lw_audit_append(struct lw_store *s, const struct lw_audit_rec *r,
                            struct lw_audit_head *out)
{
    return append(s, r, 1, out);
}

enum lw_err lw_audit_append_many(struct lw_store *s,
                                 const struct lw_audit_rec *r, size_t n)
{
    if (r && n == 0)
        return LW_OK;
    return append(s, r, n, NULL);
}

enum lw_err lw_audit_add(struct lw_store *s, int64_t at_ms, const char *who,
                         const char *action, const char *device,
                         const char *reason)
{
    struct lw_audit_rec r = {
        .at_ms = at_ms,
        .who = who,
        .action = action,
        .device = device,
        .reason = reason,
    };

    return lw_audit_append(s, &r, NULL);
}

enum lw_err lw_audit_head(struct lw_store *s, struct lw_audit_head *out)
{
    struct lw_db *db = lw_store_db(s);

    if (!lw_db_sqlite(db) || !out)
        return LW_ERR_INVAL;
    return read_head(db, out);
}

/* Copies a hash of 64 hexadecimal digits (either case) in lowercase. */
static bool take_hash(const char *p, size_t n, char *out)
{
    size_t i;

    if (n != LW_AUDIT_HASH_HEX)
        return false;
    for (i = 0; i < n; i++) {
        char c = p[i];

        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        out[i] = c;
    }
    out[n] = '\0';
    return true;
}

enum lw_err lw_audit_head_parse(const char *text, struct lw_audit_head *out)
{
    const char *p, *sep;
    char *end;
    long long id;

    if (!text || !out)
        return LW_ERR_INVAL;
    while (*text == ' ' || *text == '\t' || *text == '\n')
        text++;
    if (*text == '{') {
        json_t *j = json_loads(text, 0, NULL);
        json_t *ji = json_object_get(j, "id");
        json_t *jh = json_object_get(j, "hash");
        bool ok =
            json_is_integer(ji) && json_integer_value(ji) >= 0 &&
            json_is_string(jh) &&
            take_hash(json_string_value(jh), json_string_length(jh), out->hash);

        if (ok)
            out->id = json_integer_value(ji);
        json_decref(j);
        return ok ? LW_OK : LW_ERR_INVAL;
    }
    sep = strpbrk(text, ": \t");
    if (!sep) {
        out->id = -1;
        p = text + strlen(text);
        while (p > text && (p[-1] == '\n' || p[-1] == ' '))
            p--;
        return take_hash(text, (size_t)(p - text), out->hash) ? LW_OK
                                                              : LW_ERR_INVAL;
    }
    if (sep == text || text[0] < '0' || text[0] > '9')
        return LW_ERR_INVAL;
    id = strtoll(text, &end, 10);
    if (end != sep || id < 0 || id == LLONG_MAX)
        return LW_ERR_INVAL;
    p = sep + 1;
    while (*p == ' ' || *p == '\t')
        p++;
    sep = p + strcspn(p, " \t\n");
    if (sep[strspn(sep, " \t\n")] != '\0')
        return LW_ERR_INVAL;
    if (!take_hash(p, (size_t)(sep - p), out->hash))
        return LW_ERR_INVAL;
    out->id = id;
    return LW_OK;
}

/* ---- listing --------------------------------------------------------------
 */

/* A text column, NULL for SQL NULL. */
static const char *col_opt(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int visit_entry(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_audit_cb *cb = cbp;
    struct lw_audit_entry a;
    static const char zeros[LW_AUDIT_HASH_HEX + 1] =
        "0000000000000000000000000000000000000000000000000000000000000000";

    a.id = sqlite3_column_int64(st, C_ID);
    a.at_ms = sqlite3_column_int64(st, C_AT);
    a.who = lw_db_col_str(st, C_TEXT + 0);
    a.action = lw_db_col_str(st, C_TEXT + 1);
    a.device = col_opt(st, C_TEXT + 2);
    a.reason = col_opt(st, C_TEXT + 3);
    a.role = col_opt(st, C_TEXT + 4);
    a.via = col_opt(st, C_TEXT + 5);
    a.as_name = col_opt(st, C_TEXT + 6);
    a.os_detail = col_opt(st, C_TEXT + 7);
    a.client = col_opt(st, C_TEXT + 8);
    a.case_id = col_opt(st, C_TEXT + 9);
    a.basis = col_opt(st, C_TEXT + 10);
    a.detail = col_opt(st, C_TEXT + 11);
    a.hash = col_opt(st, C_HASH);
    a.prev_hash = sqlite3_column_type(st, C_PREV) == SQLITE_NULL
                      ? zeros
                      : (const char *)sqlite3_column_text(st, C_PREV);
    return (*cb)(ctx, &a);
}

enum lw_err lw_audit_query(struct lw_store *s, const struct lw_audit_filter *f,
                           lw_audit_cb cb, void *ctx)
{
    static const struct lw_audit_filter all = {0};
    struct lw_db *db = lw_store_db(s);
    const char *sql;
    sqlite3_stmt *st;
    enum lw_err e;

    if (!lw_db_sqlite(db) || !cb)
        return LW_ERR_INVAL;
    if (!f)
        f = &all;
    sql = f->device    ? SQL_LIST_DEVICE
          : f->case_id ? SQL_LIST_CASE
                       : SQL_LIST_ALL;
    st = lw_db_stmt(db, sql, &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, f->device);
    lw_db_bind_text(db, st, 2, f->who);
    lw_db_bind_text(db, st, 3, f->action);
    lw_db_bind_text(db, st, 4, f->case_id);
    lw_db_bind_int64(db, st, 5, f->from_ms ? f->from_ms : INT64_MIN);
    lw_db_bind_int64(db, st, 6, f->to_ms ? f->to_ms : INT64_MAX);
    lw_db_bind_int64(db, st, 7, f->after_id > 0 ? f->after_id : INT64_MIN);
    lw_db_bind_int64(db, st, 8, f->limit > 0 ? f->limit : -1);
    return lw_db_each_row(db, st, visit_entry, &cb, ctx,
                          "reading the audit trail");
}

enum lw_err lw_audit_list(struct lw_store *s, const char *device,
                          lw_audit_cb cb, void *ctx)
{
    struct lw_audit_filter f = {.device = device};

    return lw_audit_query(s, &f, cb, ctx);
}

/* ---- verification ---------------------------------------------------------
 */

const char *lw_audit_problem_name(enum lw_audit_problem p)
{
    switch (p) {
    case LW_AUDIT_INTACT:
        return "intact";
    case LW_AUDIT_CHANGED:
        return "changed";
    case LW_AUDIT_REMOVED:
        return "removed";
    case LW_AUDIT_INSERTED:
        return "inserted";
    case LW_AUDIT_REORDERED:
        return "reordered";
    case LW_AUDIT_UNCHAINED:
        return "unchained";
    case LW_AUDIT_MALFORMED:
        return "malformed";
    case LW_AUDIT_BROKEN:
        return "broken";
    case LW_AUDIT_HEAD_MISSING:
        return "head missing";
    case LW_AUDIT_HEAD_DIFFERS:
        return "head differs";
    }
    return "unknown";
}

/* The texts of a COLS row (types already checked), borrowed from st. */
static void stmt_texts(sqlite3_stmt *st, struct lw_audit_texts *t)
{
    int i;

    for (i = 0; i < LW_AUDIT_NTEXT; i++) {
        int col = C_TEXT + i;

        if (sqlite3_column_type(st, col) == SQLITE_NULL) {
            t->p[i] = NULL;
            t->n[i] = 0;
        } else {
            t->p[i] = (const char *)sqlite3_column_text(st, col);
            t->n[i] = (size_t)sqlite3_column_bytes(st, col);
            if (!t->p[i]) /* out of memory: cannot be the stored text */
                t->n[i] = SIZE_MAX;
        }
    }
}

/* Why a COLS row cannot be checked, or NULL: a column of the wrong type. */
static const char *row_malformed(sqlite3_stmt *st)
{
    int i;

    if (sqlite3_column_type(st, C_AT) != SQLITE_INTEGER)
        return "its time (at_ms) is not an integer";
    for (i = 0; i < LW_AUDIT_NTEXT; i++) {
        int type = sqlite3_column_type(st, C_TEXT + i);

        if (type != SQLITE_TEXT && type != SQLITE_NULL)
            return "a text column holds another type";
    }
    return NULL;
}

/* The stored hash of a COLS row into h; false when it has none. */
static bool row_stored_hash(sqlite3_stmt *st, unsigned char *h)
{
    const char *p;

    if (sqlite3_column_type(st, C_HASH) != SQLITE_TEXT)
        return false;
    p = (const char *)sqlite3_column_text(st, C_HASH);
    return lw_auditchain_unhex(p, (size_t)sqlite3_column_bytes(st, C_HASH), h);
}

/* A record held in memory for the diagnosis: its own copies. */
struct row {
    bool present;                            /* a record was read */
    int64_t id, at_ms;                       /* its id and time */
    char *p[LW_AUDIT_NTEXT];                 /* its texts (NULL: NULL) */
    size_t n[LW_AUDIT_NTEXT];                /* their lengths */
    bool has_hash;                           /* hash is valid */
    unsigned char hash[LW_AUDIT_HASH_BYTES]; /* its stored hash */
    bool oom;                                /* a copy failed */
};

static void row_free(struct row *r)
{
    int i;

    for (i = 0; i < LW_AUDIT_NTEXT; i++)
        free(r->p[i]);
    memset(r, 0, sizeof(*r));
}

static void row_decode(sqlite3_stmt *st, void *out)
{
    struct row *r = out;
    struct lw_audit_texts t;
    int i;

    row_free(r);
    r->present = true;
    r->id = sqlite3_column_int64(st, C_ID);
    r->at_ms = sqlite3_column_int64(st, C_AT);
    stmt_texts(st, &t);
    for (i = 0; i < LW_AUDIT_NTEXT; i++) {
        if (!t.p[i])
            continue;
        r->p[i] = malloc(t.n[i] + 1);
        if (!r->p[i]) {
            r->oom = true;
            continue;
        }
        memcpy(r->p[i], t.p[i], t.n[i]);
        r->p[i][t.n[i]] = '\0';
        r->n[i] = t.n[i];
    }
    r->has_hash = row_stored_hash(st, r->hash);
}

/* Whether r's stored hash is the hash of its content with id (its own, or
 * another one for a renumbering) chained to prev. */
static bool row_chains(const struct row *r, int64_t id,
                       const unsigned char *prev)
{
    struct lw_audit_texts t;
    unsigned char h[LW_AUDIT_HASH_BYTES];
    int i;

    if (!r->present || !r->has_hash)
        return false;
    for (i = 0; i < LW_AUDIT_NTEXT; i++) {
        t.p[i] = r->p[i];
        t.n[i] = r->n[i];
    }
    lw_auditchain_encode(prev, id, r->at_ms, &t, NULL, 0, h);
    return memcmp(h, r->hash, sizeof(h)) == 0;
}

/* State of a verification walk. */
struct walk {
    const struct lw_audit_head *expect;      /* the head to meet, or NULL */
    struct lw_audit_verdict *v;              /* the outcome */
    unsigned char prev[LW_AUDIT_HASH_BYTES]; /* hash of the last good one */
    bool any;                                /* a record chained already */
    const char *malformed;                   /* why bad_id cannot be checked */
    bool unchained;                          /* bad_id has no valid hash */
};

static int walk_row(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct walk *w = ctx;
    struct lw_audit_verdict *v = w->v;
    struct lw_audit_texts t;
    unsigned char h[LW_AUDIT_HASH_BYTES], stored[LW_AUDIT_HASH_BYTES];
    int64_t id = sqlite3_column_int64(st, C_ID);

    (void)cbp;
    v->bad_id = id;
    w->malformed = row_malformed(st);
    if (w->malformed)
        return 1;
    if (!row_stored_hash(st, stored)) {
        w->unchained = true;
        return 1;
    }
    stmt_texts(st, &t);
    lw_auditchain_encode(w->any ? w->prev : NULL, id,
                         sqlite3_column_int64(st, C_AT), &t, NULL, 0, h);
    if (memcmp(h, stored, sizeof(h)) != 0)
        return 1;
    /* it chains */
    v->bad_id = 0;
    memcpy(w->prev, h, sizeof(h));
    w->any = true;
    v->rows++;
    v->head.id = id;
    lw_auditchain_hex(h, v->head.hash);
    if (w->expect &&
        (w->expect->id == id ||
         (w->expect->id < 0 && strcmp(w->expect->hash, v->head.hash) == 0))) {
        if (strcmp(w->expect->hash, v->head.hash) != 0) {
            v->problem = LW_AUDIT_HEAD_DIFFERS;
            return 1;
        }
        v->head_found = true;
    }
    return 0;
}

/* Looks for the record whose stored hash chains from the hash h, i.e. the
 * record that followed, in the original chain, the record that carries h. */
struct follower {
    const unsigned char *h; /* the hash chained from */
    int64_t skip;           /* a record not to report */
    int64_t found;          /* its id, 0 when none */
};

static int find_follower(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct follower *f = ctx;
    struct lw_audit_texts t;
    unsigned char h[LW_AUDIT_HASH_BYTES], stored[LW_AUDIT_HASH_BYTES];
    int64_t id = sqlite3_column_int64(st, C_ID);

    (void)cbp;
    if (id == f->skip || row_malformed(st) || !row_stored_hash(st, stored))
        return 0;
    stmt_texts(st, &t);
    lw_auditchain_encode(f->h, id, sqlite3_column_int64(st, C_AT), &t, NULL, 0,
                         h);
    if (memcmp(h, stored, sizeof(h)) != 0)
        return 0;
    f->found = id;
    return 1;
}

/* Reads record id (SQL_ROW) or the one after it (SQL_NEXT) into r. */
static enum lw_err read_row(struct lw_db *db, const char *sql, int64_t id,
                            struct row *r)
{
    sqlite3_stmt *st;
    enum lw_err e;

    row_free(r);
    st = lw_db_stmt(db, sql, &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    e = lw_db_get_row(db, st, row_decode, r, "reading the audit trail");
    if (e == LW_ERR_NOTFOUND)
        return LW_OK;
    if (e == LW_OK && r->oom)
        e = LW_ERR_NOMEM;
    return e;
}

/*
 * Says what happened to record v->bad_id, the first that does not chain to
 * the hash w->prev of the record before it (v->head.id). The evidence: its
 * own stored hash, the record after it, and where its stored hash leads.
 */
static enum lw_err diagnose(struct lw_db *db, struct walk *w)
{
    struct lw_audit_verdict *v = w->v;
    const unsigned char *prev = w->any ? w->prev : NULL;
    int64_t k = v->bad_id, p = v->head.id;
    struct row bad = {0}, next = {0};
    bool gap = k != p + 1;
    enum lw_err e;

    if (w->malformed) {
        v->problem = LW_AUDIT_MALFORMED;
        snprintf(v->detail, sizeof(v->detail),
                 "record %" PRId64 " cannot be checked: %s (written by "
                 "hand)",
                 k, w->malformed);
        return LW_OK;
    }
    if (w->unchained) {
        v->problem = LW_AUDIT_UNCHAINED;
        snprintf(v->detail, sizeof(v->detail),
                 "record %" PRId64 " has no valid hash (added without the "
                 "chain, or its hash was altered)",
                 k);
        return LW_OK;
    }
    e = read_row(db, SQL_ROW, k, &bad);
    if (e == LW_OK)
        e = read_row(db, SQL_NEXT, k, &next);
    if (e != LW_OK)
        goto out;

    if (next.present && row_chains(&next, next.id, bad.hash)) {
        /* the record after it was chained to its stored hash: that hash is
         * genuine, so its content changed or what it chained to is gone */
        if (gap) {
            v->problem = LW_AUDIT_REMOVED;
            v->from_id = p + 1;
            v->to_id = k - 1;
        } else {
            v->problem = LW_AUDIT_CHANGED;
        }
    } else if (next.present && row_chains(&next, next.id, prev)) {
        v->problem = LW_AUDIT_INSERTED; /* the next one skips it */
    } else if (next.present && !gap && row_chains(&next, next.id - 1, prev)) {
        v->problem = LW_AUDIT_INSERTED; /* ... and was renumbered */
        v->to_id = next.id;
    } else if (gap) {
        v->problem = LW_AUDIT_REMOVED;
        v->from_id = p + 1;
        v->to_id = k - 1;
    } else {
        struct follower f = {.h = bad.hash, .skip = next.id};
        sqlite3_stmt *st = lw_db_stmt(db, SQL_WALK, &e);

        if (!st)
            goto out;
        e = lw_db_each_row(db, st, find_follower, NULL, &f,
                           "reading the audit trail");
        if (e != LW_OK)
            goto out;
        if (f.found && f.found != k) {
            v->problem = LW_AUDIT_REORDERED;
            v->to_id = f.found;
        } else {
            v->problem = LW_AUDIT_BROKEN;
        }
    }

    switch (v->problem) {
    case LW_AUDIT_CHANGED:
        snprintf(v->detail, sizeof(v->detail),
                 "record %" PRId64 " was changed: its content no longer "
                 "matches its hash (record %" PRId64 " still chains to it)",
                 k, next.id);
        break;
    case LW_AUDIT_REMOVED:
        if (v->from_id == v->to_id)
            snprintf(v->detail, sizeof(v->detail),
                     "record %" PRId64 " was removed: record %" PRId64
                     " chains to a record that is not there",
                     v->from_id, k);
        else
            snprintf(v->detail, sizeof(v->detail),
                     "records %" PRId64 " to %" PRId64
                     " were removed: record %" PRId64
                     " chains to a record that is not there",
                     v->from_id, v->to_id, k);
        break;
    case LW_AUDIT_INSERTED:
        snprintf(v->detail, sizeof(v->detail),
                 "record %" PRId64 " was inserted: it does not chain, and "
                 "the record after it chains to record %" PRId64 "%s",
                 k, p,
                 v->to_id ? " (the records after it were renumbered)" : "");
        v->to_id = 0;
        break;
    case LW_AUDIT_REORDERED:
        snprintf(v->detail, sizeof(v->detail),
                 "records were reordered: record %" PRId64 " holds the record "
                 "that belongs just before record %" PRId64,
                 k, v->to_id);
        break;
    default:
        snprintf(v->detail, sizeof(v->detail),
                 "record %" PRId64 " does not chain to record %" PRId64 "%s", k,
                 p,
                 next.present ? " (changed, inserted or moved, and its "
                                "neighbours too)"
                              : ": it is the last; changed after it was "
                                "written, or added without the chain");
        break;
    }
out:
    row_free(&bad);
    row_free(&next);
    return e;
}

enum lw_err lw_audit_verify(struct lw_store *s,
                            const struct lw_audit_head *expect,
                            struct lw_audit_verdict *v)
{
    struct lw_db *db = lw_store_db(s);
    struct walk w = {.expect = expect, .v = v};
    int64_t guards = 0;
    sqlite3_stmt *st;
    bool own;
    enum lw_err e;

    if (!lw_db_sqlite(db) || !v)
        return LW_ERR_INVAL;
    memset(v, 0, sizeof(*v));
    head_empty(&v->head);
    if (sodium_init() < 0) {
        lw_db_seterr(db, "libsodium could not be initialised");
        return LW_ERR_NOMEM;
    }
    if (expect && expect->id == 0)
        /* the empty trail's head: the start of every chain */
        v->head_found = strspn(expect->hash, "0") == LW_AUDIT_HASH_HEX;
    /* one snapshot for the walk and the diagnosis */
    own = !lw_db_in_txn(db);
    if (own) {
        e = lw_db_exec(db, "BEGIN", "reading the audit trail");
        if (e != LW_OK)
            return e;
    }
    st = lw_db_stmt(db, SQL_GUARDS, &e);
    if (!st)
        goto out;
    e = lw_db_get_row(db, st, row_int64, &guards, "reading the schema");
    if (e != LW_OK)
        goto out;
    v->guarded = guards == GUARDS;
    st = lw_db_stmt(db, SQL_WALK, &e);
    if (!st)
        goto out;
    e = lw_db_each_row(db, st, walk_row, NULL, &w, "reading the audit trail");
    if (e != LW_OK)
        goto out;
    if (v->problem == LW_AUDIT_HEAD_DIFFERS) {
        snprintf(v->detail, sizeof(v->detail),
                 "record %" PRId64 " has hash %s, not the %s expected: the "
                 "trail was rewritten up to there",
                 v->head.id, v->head.hash, expect->hash);
        v->head_found = false;
    } else if (v->bad_id) {
        e = diagnose(db, &w);
    } else if (expect && !v->head_found) {
        v->problem = LW_AUDIT_HEAD_MISSING;
        if (expect->id > v->head.id)
            snprintf(v->detail, sizeof(v->detail),
                     "the trail ends at record %" PRId64
                     ", before the expected head %" PRId64
                     ": records at the end were removed",
                     v->head.id, expect->id);
        else
            snprintf(v->detail, sizeof(v->detail),
                     "no record has the expected head's hash %s: records "
                     "at the end were removed, or the trail rewritten",
                     expect->hash);
    }
out:
    if (own)
        sqlite3_exec(lw_db_sqlite(db), "COMMIT", NULL, NULL, NULL);
    return e;
}
