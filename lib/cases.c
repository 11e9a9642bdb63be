/*
 * cases.c - cases (cases.h) on the store's connection.
 *
 * Table cases (schema.c, migration 6): id, device, agent, reason,
 * opened_by, opened_ms, expires_ms, outcome ('open' until it ends),
 * closed_ms, closed_by, note. A partial unique index keeps one row with
 * outcome 'open' per agent and device; a case past its expiry keeps
 * outcome 'open' until something records its end (the sweep, or a new
 * case for the same agent and device), but every reader judges openness by
 * the time as well, so it is never shown as open.
 *
 * Whether an account is watched is asked of the registry (registry.h) and
 * decided by access.h's lw_access_account_watched: one definition.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/access.h"
#include "lienwatch/cases.h"
#include "lienwatch/registry.h"
#include "lienwatch/timeutil.h"
#include "store_priv.h"
#include "wtxn.h"

/* The savepoint of a write inside the caller's transaction. */
#define SAVEPOINT "lw_cases"

static const char *const outcome_names[] = {
    [LW_CASE_OPEN] = "open",           [LW_CASE_RECOVERED] = "recovered",
    [LW_CASE_CANCELLED] = "cancelled", [LW_CASE_EXPIRED] = "expired",
    [LW_CASE_UNWATCHED] = "unwatched",
};
#define OUTCOME_COUNT (sizeof(outcome_names) / sizeof(outcome_names[0]))

#define CASE_COLS                                                              \
    "id, device, agent, reason, opened_by, opened_ms, expires_ms, outcome, "   \
    "closed_ms, closed_by, note"

static const char SQL_CASE_GET[] =
    "SELECT " CASE_COLS " FROM cases WHERE id = ?1";
/* the open cases of one agent (the web's question on every page), of
 * everyone, and any: the first two on the partial indexes of open cases */
static const char SQL_CASE_LIST_AGENT_OPEN[] =
    "SELECT " CASE_COLS " FROM cases WHERE agent = ?1 AND outcome = 'open' "
    "AND expires_ms > ?4 AND (?2 IS NULL OR device = ?2) ORDER BY id";
static const char SQL_CASE_LIST_OPEN[] =
    "SELECT " CASE_COLS " FROM cases INDEXED BY cases_open_by_device "
    "WHERE outcome = 'open' AND expires_ms > ?4 AND (?2 IS NULL OR "
    "device = ?2) ORDER BY id";
static const char SQL_CASE_LIST[] =
    "SELECT " CASE_COLS " FROM cases WHERE (?1 IS NULL OR agent = ?1) AND "
    "(?2 IS NULL OR device = ?2) AND (?3 = 0 OR (outcome = 'open' AND "
    "expires_ms > ?4)) ORDER BY id";
static const char SQL_CASE_OPEN_ROWS[] =
    "SELECT " CASE_COLS " FROM cases INDEXED BY cases_open_by_device "
    "WHERE outcome = 'open' ORDER BY id";
static const char SQL_CASE_PAIR[] =
    "SELECT " CASE_COLS " FROM cases WHERE agent = ?1 AND device = ?2 AND "
    "outcome = 'open'";
static const char SQL_CASE_ACTIVE[] =
    "SELECT id FROM cases WHERE agent = ?1 AND device = ?2 AND "
    "outcome = 'open' AND expires_ms > ?3 ORDER BY id LIMIT 1";
static const char SQL_CASE_ADD[] =
    "INSERT INTO cases (device, agent, reason, opened_by, opened_ms, "
    "expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_CASE_END[] =
    "UPDATE cases SET outcome = ?2, closed_ms = ?3, closed_by = ?4, "
    "note = ?5 WHERE id = ?1 AND outcome = 'open'";
static const char SQL_AGENT_USER[] =
    "SELECT roles, disabled FROM users WHERE name = ?1";
static const char SQL_AGENT_TOKEN[] =
    "SELECT roles, 0 FROM tokens WHERE name = ?1 AND revoked_ms = 0 AND "
    "(expires_ms = 0 OR expires_ms > ?2) ORDER BY id LIMIT 1";

bool lw_case_is_open(const struct lw_case *c, int64_t now_ms)
{
    return c && c->outcome == LW_CASE_OPEN && now_ms < c->expires_ms;
}

const char *lw_case_outcome_name(enum lw_case_outcome o)
{
    return (unsigned)o < OUTCOME_COUNT ? outcome_names[o] : "?";
}

enum lw_err lw_case_outcome_parse(const char *s, enum lw_case_outcome *out)
{
    if (!s || !out)
        return LW_ERR_INVAL;
    for (unsigned i = 0; i < OUTCOME_COUNT; i++) {
        if (strcmp(s, outcome_names[i]) == 0) {
            *out = (enum lw_case_outcome)i;
            return LW_OK;
        }
    }
    return LW_ERR_INVAL;
}

static void decode_case(sqlite3_stmt *st, void *out)
{
    struct lw_case *c = out;
    enum lw_case_outcome o = LW_CASE_OPEN;

    memset(c, 0, sizeof(*c));
    c->id = sqlite3_column_int64(st, 0);
    lw_db_col_copy(st, 1, c->device, sizeof(c->device));
    lw_db_col_copy(st, 2, c->agent, sizeof(c->agent));
    lw_db_col_copy(st, 3, c->reason, sizeof(c->reason));
    lw_db_col_copy(st, 4, c->opened_by, sizeof(c->opened_by));
    c->opened_ms = sqlite3_column_int64(st, 5);
    c->expires_ms = sqlite3_column_int64(st, 6);
    /* the table's CHECK allows only known names */
    (void)lw_case_outcome_parse(lw_db_col_str(st, 7), &o);
    c->outcome = o;
    c->closed_ms = sqlite3_column_int64(st, 8);
    lw_db_col_copy(st, 9, c->closed_by, sizeof(c->closed_by));
    lw_db_col_copy(st, 10, c->note, sizeof(c->note));
}

static enum lw_err check_by(struct lw_db *db, const struct lw_audit_rec *by)
{
    if (!by || !by->who || !by->who[0]) {
        lw_db_seterr(db, "no identity to record the change under");
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

/* Appends a case's audit record: by with the case's fields. */
static enum lw_err audit(struct lw_store *s, const struct lw_audit_rec *by,
                         const char *action, int64_t id, const char *device,
                         const char *reason, const char *detail, int64_t now_ms)
{
    struct lw_audit_rec r = *by;
    char cid[24];

    snprintf(cid, sizeof(cid), "%lld", (long long)id);
    r.at_ms = now_ms;
    r.action = action;
    r.device = device;
    r.case_id = cid;
    r.reason = reason && reason[0] ? reason : NULL;
    r.detail = detail;
    r.basis = NULL;
    return lw_audit_append(s, &r, NULL);
}

/* Records the end of open case c with outcome o at closed_ms, and its
 * audit record (action "case close" for a person's close, else "case
 * end"). LW_ERR_NOTFOUND when it is no longer open in the table. */
static enum lw_err end_case(struct lw_store *s, const struct lw_case *c,
                            enum lw_case_outcome o, int64_t closed_ms,
                            const char *note, const struct lw_audit_rec *by,
                            int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    bool closing = o == LW_CASE_RECOVERED || o == LW_CASE_CANCELLED;
    char detail[64];
    sqlite3_stmt *st;
    enum lw_err e;

    st = lw_db_stmt(db, SQL_CASE_END, &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, c->id);
    lw_db_bind_text(db, st, 2, lw_case_outcome_name(o));
    lw_db_bind_int64(db, st, 3, closed_ms);
    lw_db_bind_textn(db, st, 4, by->who,
                     (int)strnlen(by->who, LW_USER_NAME_MAX));
    lw_db_bind_text(db, st, 5, note ? note : "");
    e = lw_db_run(db, st, "ending a case");
    if (e)
        return e;
    if (lw_db_changes(db) != 1) {
        /* ended by another connection since it was read */
        lw_db_seterr(db, "case %lld has already ended", (long long)c->id);
        return LW_ERR_NOTFOUND;
    }
    snprintf(detail, sizeof(detail), "outcome=%s", lw_case_outcome_name(o));
    return audit(s, by, closing ? "case close" : "case end", c->id, c->device,
                 note, detail, now_ms);
}

/* Whether device's account is watched now, into *watched; *why gets a
 * sentence when not. */
static enum lw_err device_watched(struct lw_store *s, const char *device,
                                  int threshold, bool *watched, char *why,
                                  size_t whylen)
{
    struct lw_vehicle v;
    struct lw_account a;
    enum lw_err e;

    *watched = false;
    e = lw_registry_vehicle_get(s, device, &v);
    if (e == LW_ERR_NOTFOUND) {
        snprintf(why, whylen, "vehicle %s is not registered", device);
        return LW_OK;
    }
    if (e)
        return e;
    if (!v.account[0]) {
        snprintf(why, whylen,
                 "vehicle %s has no account, so it is not "
                 "watched",
                 device);
        return LW_OK;
    }
    e = lw_registry_account_get(s, v.account, &a);
    if (e == LW_ERR_NOTFOUND) {
        snprintf(why, whylen,
                 "account %s of %s is not registered, so it "
                 "is not watched",
                 v.account, device);
        return LW_OK;
    }
    if (e)
        return e;
    *watched = lw_access_account_watched(a.days_past_due, a.status, threshold);
    if (!*watched)
        snprintf(why, whylen,
                 "account %s of %s is not watched (%d days past due%s%s, "
                 "threshold %d)",
                 v.account, device, a.days_past_due,
                 a.status[0] ? ", status " : "", a.status,
                 threshold < 1 ? 1 : threshold);
    return LW_OK;
}

/* Decodes (roles, disabled). */
static void decode_agent(sqlite3_stmt *st, void *out)
{
    int *r = out;

    r[0] = sqlite3_column_int(st, 0);
    r[1] = sqlite3_column_int(st, 1);
}

/* Checks that agent is a user or valid token holding the agent role. */
static enum lw_err check_agent(struct lw_db *db, const char *agent,
                               int64_t now_ms)
{
    int r[2] = {0, 0};
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db, SQL_AGENT_USER, &e);

    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, agent);
    e = lw_db_get_row(db, st, decode_agent, r, "looking up the agent");
    if (e == LW_ERR_NOTFOUND) {
        st = lw_db_stmt(db, SQL_AGENT_TOKEN, &e);
        if (!st)
            return e;
        lw_db_bind_text(db, st, 1, agent);
        lw_db_bind_int64(db, st, 2, now_ms);
        e = lw_db_get_row(db, st, decode_agent, r, "looking up the agent");
    }
    if (e == LW_ERR_NOTFOUND) {
        lw_db_seterr(db, "no user or valid token named %s", agent);
        return e;
    }
    if (e)
        return e;
    if (!(r[0] & LW_ROLE_AGENT)) {
        lw_db_seterr(db, "%s does not hold the agent role", agent);
        return LW_ERR_INVAL;
    }
    if (r[1]) {
        lw_db_seterr(db, "user %s is disabled", agent);
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

/* Checks what lw_case_open is asked, recording why it is refused. */
static enum lw_err check_new(struct lw_db *db, const struct lw_case_new *c,
                             int64_t now_ms)
{
    if (!c->device || !c->device[0] || strlen(c->device) > LW_DEVICE_MAX) {
        lw_db_seterr(db, "a case needs a device (1 to %d bytes)",
                     LW_DEVICE_MAX);
        return LW_ERR_INVAL;
    }
    if (!c->agent || !lw_user_name_valid(c->agent)) {
        lw_db_seterr(db, "a case needs an agent's name (a user or token "
                         "name)");
        return LW_ERR_INVAL;
    }
    if (!c->reason || !c->reason[0] || strlen(c->reason) > LW_CASE_REASON_MAX) {
        lw_db_seterr(db, "a case needs a reason (1 to %d bytes)",
                     LW_CASE_REASON_MAX);
        return LW_ERR_INVAL;
    }
    if (c->expires_ms <= now_ms ||
        c->expires_ms - now_ms > LW_CASE_EXPIRY_MAX_MS) {
        lw_db_seterr(db,
                     "a case expires after it opens and within %lld "
                     "days",
                     (long long)(LW_CASE_EXPIRY_MAX_MS / 86400000));
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

enum lw_err lw_case_open(struct lw_store *s, const struct lw_case_new *c,
                         int watch_threshold_days,
                         const struct lw_audit_rec *by, int64_t now_ms,
                         int64_t *id)
{
    struct lw_db *db = lw_store_db(s);
    char why[LW_DB_ERRMSG_LEN], detail[160], when[40];
    struct lw_vehicle v;
    struct lw_case old;
    sqlite3_stmt *st;
    int64_t cid;
    bool own, watched;
    enum lw_err e;

    if (id)
        *id = 0;
    if ((e = lw_wtxn_writable(db)) || (e = check_by(db, by)))
        return e;
    if (!c) {
        lw_db_seterr(db, "no case to open");
        return LW_ERR_INVAL;
    }
    if ((e = check_new(db, c, now_ms)))
        return e;
    e = lw_wtxn_begin(db, SAVEPOINT, &own);
    if (e)
        return e;
    e = lw_registry_vehicle_get(s, c->device, &v);
    if (e == LW_ERR_NOTFOUND)
        lw_db_seterr(db, "vehicle %s is not registered", c->device);
    if (e == LW_OK)
        e = device_watched(s, c->device, watch_threshold_days, &watched, why,
                           sizeof(why));
    if (e == LW_OK && !watched) {
        lw_db_seterr(db, "%s: no case can be opened", why);
        e = LW_ERR_INVAL;
    }
    if (e == LW_OK)
        e = check_agent(db, c->agent, now_ms);
    if (e)
        goto out_end;
    /* the pair's case in the table: ended if expired, else refused */
    st = lw_db_stmt(db, SQL_CASE_PAIR, &e);
    if (!st)
        goto out_end;
    lw_db_bind_text(db, st, 1, c->agent);
    lw_db_bind_text(db, st, 2, c->device);
    e = lw_db_get_row(db, st, decode_case, &old, "looking up open cases");
    if (e == LW_OK && lw_case_is_open(&old, now_ms)) {
        lw_db_seterr(db, "%s has an open case for %s already: case %lld",
                     c->agent, c->device, (long long)old.id);
        e = LW_ERR_EXISTS;
    } else if (e == LW_OK) {
        e = end_case(s, &old, LW_CASE_EXPIRED, old.expires_ms, NULL, by,
                     now_ms);
    } else if (e == LW_ERR_NOTFOUND) {
        e = LW_OK;
    }
    if (e)
        goto out_end;
    st = lw_db_stmt(db, SQL_CASE_ADD, &e);
    if (!st)
        goto out_end;
    lw_db_bind_text(db, st, 1, c->device);
    lw_db_bind_text(db, st, 2, c->agent);
    lw_db_bind_text(db, st, 3, c->reason);
    lw_db_bind_textn(db, st, 4, by->who,
                     (int)strnlen(by->who, LW_USER_NAME_MAX));
    lw_db_bind_int64(db, st, 5, now_ms);
    lw_db_bind_int64(db, st, 6, c->expires_ms);
    e = lw_db_run(db, st, "opening a case");
    if (e)
        goto out_end;
    cid = lw_db_last_rowid(db);
    snprintf(detail, sizeof(detail), "agent=%s expires=%s", c->agent,
             lw_time_format(c->expires_ms, when, sizeof(when)));
    e = audit(s, by, "case open", cid, c->device, c->reason, detail, now_ms);
    if (e == LW_OK && id)
        *id = cid;
out_end:
    e = lw_wtxn_end(db, SAVEPOINT, own, e);
    if (e && id)
        *id = 0;
    return e;
}

enum lw_err lw_case_get(struct lw_store *s, int64_t id, struct lw_case *out)
{
    struct lw_db *db = lw_store_db(s);

    if (!lw_db_sqlite(db) || !out)
        return LW_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    return lw_db_get_id(db, SQL_CASE_GET, id, decode_case, out,
                        "reading a case", "case");
}

enum lw_err lw_case_close(struct lw_store *s, int64_t id,
                          enum lw_case_outcome outcome, const char *note,
                          const struct lw_audit_rec *by, int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    struct lw_case c;
    enum lw_err e;
    bool own;

    if ((e = lw_wtxn_writable(db)) || (e = check_by(db, by)))
        return e;
    if (outcome != LW_CASE_RECOVERED && outcome != LW_CASE_CANCELLED) {
        lw_db_seterr(db, "a case is closed as recovered or cancelled");
        return LW_ERR_INVAL;
    }
    if (note && strlen(note) > LW_CASE_REASON_MAX) {
        lw_db_seterr(db, "a closing note has at most %d bytes",
                     LW_CASE_REASON_MAX);
        return LW_ERR_INVAL;
    }
    e = lw_wtxn_begin(db, SAVEPOINT, &own);
    if (e)
        return e;
    e = lw_case_get(s, id, &c);
    if (e == LW_OK && c.outcome != LW_CASE_OPEN) {
        char when[40];

        lw_db_seterr(db, "case %lld ended already (%s, %s)", (long long)id,
                     lw_case_outcome_name(c.outcome),
                     lw_time_format(c.closed_ms, when, sizeof(when)));
        e = LW_ERR_INVAL;
    }
    if (e == LW_OK)
        e = end_case(s, &c, outcome, now_ms, note, by, now_ms);
    return lw_wtxn_end(db, SAVEPOINT, own, e);
}

static void decode_id(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
}

enum lw_err lw_case_active(struct lw_store *s, const char *agent,
                           const char *device, int64_t now_ms, int64_t *case_id)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (case_id)
        *case_id = 0;
    if (!lw_db_sqlite(db) || !agent || !device || !case_id)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, SQL_CASE_ACTIVE, &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, agent);
    lw_db_bind_text(db, st, 2, device);
    lw_db_bind_int64(db, st, 3, now_ms);
    return lw_db_get_row(db, st, decode_id, case_id, "looking up a case");
}

static int visit_case(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct lw_case c;

    decode_case(st, &c);
    return (*(const lw_case_cb *)cbp)(ctx, &c);
}

enum lw_err lw_case_list(struct lw_store *s, const struct lw_case_filter *f,
                         lw_case_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    static const struct lw_case_filter all;
    enum lw_err e;
    sqlite3_stmt *st;

    if (!lw_db_sqlite(db) || !cb)
        return LW_ERR_INVAL;
    if (!f)
        f = &all;
    st = lw_db_stmt(db,
                    !f->open_only ? SQL_CASE_LIST
                    : f->agent    ? SQL_CASE_LIST_AGENT_OPEN
                                  : SQL_CASE_LIST_OPEN,
                    &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, f->agent);
    lw_db_bind_text(db, st, 2, f->device);
    lw_db_bind_int(db, st, 3, f->open_only ? 1 : 0);
    lw_db_bind_int64(db, st, 4, f->now_ms);
    return lw_db_each_row(db, st, visit_case, &cb, ctx, "listing cases");
}

/* The open cases, collected for the sweep. */
struct case_vec {
    struct lw_case *v; /* cases (owned) */
    size_t n, cap;     /* used, allocated */
    bool nomem;        /* an allocation failed */
};

static int collect_case(void *ctx, const struct lw_case *c)
{
    struct case_vec *cv = ctx;

    if (cv->n == cv->cap) {
        size_t cap = cv->cap ? cv->cap * 2 : 16;
        struct lw_case *v = realloc(cv->v, cap * sizeof(*v));

        if (!v) {
            cv->nomem = true;
            return 1;
        }
        cv->v = v;
        cv->cap = cap;
    }
    cv->v[cv->n++] = *c;
    return 0;
}

static int visit_open(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct lw_case c;

    (void)cbp;
    decode_case(st, &c);
    return collect_case(ctx, &c);
}

enum lw_err lw_case_sweep(struct lw_store *s, int watch_threshold_days,
                          const struct lw_audit_rec *by, int64_t now_ms,
                          int64_t *ended)
{
    struct lw_db *db = lw_store_db(s);
    struct case_vec cv = {0};
    char why[LW_DB_ERRMSG_LEN];
    int64_t n = 0;
    enum lw_err e;
    sqlite3_stmt *st;
    bool own = false, begun = false;

    if (ended)
        *ended = 0;
    if ((e = lw_wtxn_writable(db)) || (e = check_by(db, by)))
        return e;
    st = lw_db_stmt(db, SQL_CASE_OPEN_ROWS, &e);
    if (!st)
        return e;
    e = lw_db_each_row(db, st, visit_open, NULL, &cv, "listing open cases");
    if (e == LW_OK && cv.nomem) {
        lw_db_seterr(db, "listing open cases: out of memory");
        e = LW_ERR_NOMEM;
    }
    for (size_t i = 0; e == LW_OK && i < cv.n; i++) {
        const struct lw_case *c = &cv.v[i];
        enum lw_case_outcome o = LW_CASE_EXPIRED;
        int64_t at = c->expires_ms;
        bool watched = true;

        if (c->expires_ms > now_ms) {
            e = device_watched(s, c->device, watch_threshold_days, &watched,
                               why, sizeof(why));
            if (e || watched)
                continue;
            o = LW_CASE_UNWATCHED;
            at = now_ms;
        }
        if (!begun) {
            e = lw_wtxn_begin(db, SAVEPOINT, &own);
            if (e)
                break;
            begun = true;
        }
        e = end_case(s, c, o, at, NULL, by, now_ms);
        if (e == LW_OK)
            n++;
        else if (e == LW_ERR_NOTFOUND)
            e = LW_OK; /* ended meanwhile: nothing to record */
    }
    if (begun)
        e = lw_wtxn_end(db, SAVEPOINT, own, e);
    free(cv.v);
    if (e == LW_OK && ended)
        *ended = n;
    return e;
}
