/*
 * commands.c - commands to devices (commands.h) on the store's connection.
 *
 * Table commands (schema.c, migration 6): id, device, action, state
 * ('queued', 'sent', 'answered', 'failed'), requested_by, case_id,
 * created_ms, sent_ms, answered_ms, answer_fix_ms, error. A partial index
 * holds the outstanding (queued, sent) ones, so the daemon's questions
 * cost nothing when none are.
 */
#include <stdio.h>
#include <string.h>

#include "lienwatch/commands.h"
#include "store_priv.h"
#include "wtxn.h"

/* The savepoint of a write inside the caller's transaction. */
#define SAVEPOINT "lw_commands"

static const char *const state_names[] = {
    [LW_CMD_QUEUED] = "queued",
    [LW_CMD_SENT] = "sent",
    [LW_CMD_ANSWERED] = "answered",
    [LW_CMD_FAILED] = "failed",
};
#define STATE_COUNT (sizeof(state_names) / sizeof(state_names[0]))

#define CMD_COLS                                                               \
    "id, device, action, state, requested_by, case_id, created_ms, "           \
    "sent_ms, answered_ms, answer_fix_ms, error"

static const char SQL_CMD_GET[] =
    "SELECT " CMD_COLS " FROM commands WHERE id = ?1";
static const char SQL_CMD_PENDING[] =
    "SELECT " CMD_COLS " FROM commands WHERE state = 'queued' ORDER BY id "
    "LIMIT ?1";
static const char SQL_CMD_QUEUED_FOR[] =
    "SELECT id FROM commands WHERE state = 'queued' AND device = ?1 AND "
    "action = ?2 ORDER BY id LIMIT 1";
static const char SQL_DEVICE_KNOWN[] = "SELECT 1 FROM devices WHERE id = ?1";
static const char SQL_CMD_ADD[] =
    "INSERT INTO commands (device, action, requested_by, case_id, "
    "created_ms) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_CMD_SENT[] =
    "UPDATE commands SET state = 'sent', sent_ms = ?2 WHERE id = ?1 AND "
    "state = 'queued'";
static const char SQL_CMD_FAILED[] =
    "UPDATE commands SET state = 'failed', sent_ms = ?2, error = ?3 "
    "WHERE id = ?1 AND state = 'queued'";
/* the devices row holds the last-known fix (migration 4) */
static const char SQL_CMD_ANSWER[] =
    "UPDATE commands SET state = 'answered', answered_ms = ?1, "
    "answer_fix_ms = (SELECT d.last_fix_time_ms FROM devices d "
    "WHERE d.id = commands.device) "
    "WHERE state = 'sent' AND (SELECT d.last_fix_time_ms FROM devices d "
    "WHERE d.id = commands.device) > created_ms";
static const char SQL_CMD_EXPIRE[] =
    "UPDATE commands SET state = 'failed', answered_ms = ?2, "
    "error = 'no fix since it was sent' WHERE state = 'sent' AND "
    "sent_ms < ?1";
static const char SQL_CMD_OUTSTANDING[] =
    "SELECT count(*) FROM commands WHERE state IN ('queued', 'sent')";

const char *lw_cmd_action_name(enum lw_cmd_action a)
{
    return a == LW_CMD_REPORT_NOW ? "report_now" : "?";
}

enum lw_err lw_cmd_action_parse(const char *s, enum lw_cmd_action *out)
{
    if (!s || !out || strcmp(s, "report_now") != 0)
        return LW_ERR_INVAL;
    *out = LW_CMD_REPORT_NOW;
    return LW_OK;
}

const char *lw_cmd_state_name(enum lw_cmd_state st)
{
    return (unsigned)st < STATE_COUNT ? state_names[st] : "?";
}

static void decode_cmd(sqlite3_stmt *st, void *out)
{
    struct lw_cmd *c = out;
    const char *state = lw_db_col_str(st, 3);

    memset(c, 0, sizeof(*c));
    c->id = sqlite3_column_int64(st, 0);
    lw_db_col_copy(st, 1, c->device, sizeof(c->device));
    /* the table's CHECKs allow only known names */
    c->action = LW_CMD_REPORT_NOW;
    c->state = LW_CMD_QUEUED;
    for (unsigned i = 0; i < STATE_COUNT; i++)
        if (strcmp(state, state_names[i]) == 0)
            c->state = (enum lw_cmd_state)i;
    lw_db_col_copy(st, 4, c->requested_by, sizeof(c->requested_by));
    c->case_id = sqlite3_column_int64(st, 5);
    c->created_ms = sqlite3_column_int64(st, 6);
    c->sent_ms = sqlite3_column_int64(st, 7);
    c->answered_ms = sqlite3_column_int64(st, 8);
    c->answer_fix_ms = sqlite3_column_int64(st, 9);
    lw_db_col_copy(st, 10, c->error, sizeof(c->error));
}

static void decode_int64(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
}

enum lw_err lw_cmd_queue(struct lw_store *s, const char *device,
                         enum lw_cmd_action action,
                         const struct lw_audit_rec *by, int64_t case_id,
                         int64_t now_ms, int64_t *id)
{
    struct lw_db *db = lw_store_db(s);
    struct lw_audit_rec r;
    char cid[24], detail[48];
    sqlite3_stmt *st;
    int64_t cmd = 0, one;
    enum lw_err e;
    bool own;

    if (id)
        *id = 0;
    if ((e = lw_wtxn_writable(db)))
        return e;
    if (!by || !by->who || !by->who[0]) {
        lw_db_seterr(db, "no identity to record the command under");
        return LW_ERR_INVAL;
    }
    if (!device || !device[0] || strlen(device) > LW_DEVICE_MAX) {
        lw_db_seterr(db, "a command needs a device (1 to %d bytes)",
                     LW_DEVICE_MAX);
        return LW_ERR_INVAL;
    }
    if (action != LW_CMD_REPORT_NOW || case_id < 0) {
        lw_db_seterr(db, "unknown command action or case");
        return LW_ERR_INVAL;
    }
    e = lw_wtxn_begin(db, SAVEPOINT, &own);
    if (e)
        return e;
    st = lw_db_stmt(db, SQL_DEVICE_KNOWN, &e);
    if (!st)
        goto out_end;
    lw_db_bind_text(db, st, 1, device);
    e = lw_db_get_row(db, st, decode_int64, &one, "looking up the device");
    if (e == LW_ERR_NOTFOUND)
        lw_db_seterr(db, "device %s was never heard of", device);
    if (e)
        goto out_end;
    st = lw_db_stmt(db, SQL_CMD_QUEUED_FOR, &e);
    if (!st)
        goto out_end;
    lw_db_bind_text(db, st, 1, device);
    lw_db_bind_text(db, st, 2, lw_cmd_action_name(action));
    e = lw_db_get_row(db, st, decode_int64, &cmd, "looking up commands");
    if (e != LW_ERR_NOTFOUND)
        goto out_end; /* LW_OK: that one stands for this one */
    st = lw_db_stmt(db, SQL_CMD_ADD, &e);
    if (!st)
        goto out_end;
    lw_db_bind_text(db, st, 1, device);
    lw_db_bind_text(db, st, 2, lw_cmd_action_name(action));
    lw_db_bind_textn(db, st, 3, by->who,
                     (int)strnlen(by->who, LW_USER_NAME_MAX));
    lw_db_bind_int64(db, st, 4, case_id);
    lw_db_bind_int64(db, st, 5, now_ms);
    e = lw_db_run(db, st, "queueing a command");
    if (e)
        goto out_end;
    cmd = lw_db_last_rowid(db);
    r = *by;
    r.at_ms = now_ms;
    r.action = "command report_now";
    r.device = device;
    snprintf(cid, sizeof(cid), "%lld", (long long)case_id);
    r.case_id = case_id ? cid : NULL;
    snprintf(detail, sizeof(detail), "command=%lld", (long long)cmd);
    r.detail = detail;
    e = lw_audit_append(s, &r, NULL);
out_end:
    e = lw_wtxn_end(db, SAVEPOINT, own, e);
    if (e == LW_OK && id)
        *id = cmd;
    return e;
}

enum lw_err lw_cmd_get(struct lw_store *s, int64_t id, struct lw_cmd *out)
{
    struct lw_db *db = lw_store_db(s);

    if (!lw_db_sqlite(db) || !out)
        return LW_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    return lw_db_get_id(db, SQL_CMD_GET, id, decode_cmd, out,
                        "reading a command", "command");
}

static int visit_cmd(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct lw_cmd c;

    decode_cmd(st, &c);
    return (*(const lw_cmd_cb *)cbp)(ctx, &c);
}

enum lw_err lw_cmd_pending(struct lw_store *s, int64_t limit, lw_cmd_cb cb,
                           void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!lw_db_sqlite(db) || !cb || limit < 0)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, SQL_CMD_PENDING, &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, limit ? limit : -1);
    return lw_db_each_row(db, st, visit_cmd, &cb, ctx,
                          "listing queued commands");
}

/* Runs a state change of a queued command. */
static enum lw_err mark(struct lw_store *s, const char *sql, int64_t id,
                        const char *why, int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if ((e = lw_wtxn_writable(db)))
        return e;
    st = lw_db_stmt(db, sql, &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    lw_db_bind_int64(db, st, 2, now_ms);
    if (why)
        lw_db_bind_textn(db, st, 3, why, (int)strnlen(why, LW_CMD_ERROR_MAX));
    e = lw_db_run(db, st, "changing a command's state");
    if (e == LW_OK && lw_db_changes(db) == 0) {
        lw_db_seterr(db, "command %lld is not queued", (long long)id);
        e = LW_ERR_NOTFOUND;
    }
    return e;
}

enum lw_err lw_cmd_mark_sent(struct lw_store *s, int64_t id, int64_t now_ms)
{
    return mark(s, SQL_CMD_SENT, id, NULL, now_ms);
}

enum lw_err lw_cmd_mark_failed(struct lw_store *s, int64_t id, const char *why,
                               int64_t now_ms)
{
    return mark(s, SQL_CMD_FAILED, id, why ? why : "", now_ms);
}

enum lw_err lw_cmd_answer(struct lw_store *s, int64_t now_ms, int64_t *answered)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (answered)
        *answered = 0;
    if ((e = lw_wtxn_writable(db)))
        return e;
    st = lw_db_stmt(db, SQL_CMD_ANSWER, &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, now_ms);
    e = lw_db_run(db, st, "marking commands answered");
    if (e == LW_OK && answered)
        *answered = lw_db_changes(db);
    return e;
}

enum lw_err lw_cmd_expire(struct lw_store *s, int64_t sent_before_ms,
                          int64_t now_ms, int64_t *expired)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (expired)
        *expired = 0;
    if ((e = lw_wtxn_writable(db)))
        return e;
    st = lw_db_stmt(db, SQL_CMD_EXPIRE, &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, sent_before_ms);
    lw_db_bind_int64(db, st, 2, now_ms);
    e = lw_db_run(db, st, "giving up on unanswered commands");
    if (e == LW_OK && expired)
        *expired = lw_db_changes(db);
    return e;
}

enum lw_err lw_cmd_outstanding(struct lw_store *s, int64_t *n)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!lw_db_sqlite(db) || !n)
        return LW_ERR_INVAL;
    *n = 0;
    st = lw_db_stmt(db, SQL_CMD_OUTSTANDING, &e);
    if (!st)
        return e;
    return lw_db_get_row(db, st, decode_int64, n, "counting commands");
}

/* Number of '/'-separated levels of s. */
static size_t levels(const char *s)
{
    size_t n = 1;

    for (; *s; s++)
        n += *s == '/';
    return n;
}

/* Writes filter f with its '+' levels taken from device's levels, then
 * "/cmd", into out. False when it does not fit. */
static bool fill_filter(const char *f, const char *device, char *out,
                        size_t len)
{
    size_t o = 0;

    for (const char *p = f; *p;) {
        size_t n = strcspn(p, "/");

        if (n == 1 && p[0] == '+') {
            size_t d = strcspn(device, "/");

            if (o + d >= len)
                return false;
            memcpy(out + o, device, d);
            o += d;
            device += d + (device[d] == '/');
        } else {
            if (o + n >= len)
                return false;
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
        if (*p == '/') {
            if (o + 1 >= len)
                return false;
            out[o++] = '/';
            p++;
        }
    }
    if (o + sizeof("/cmd") > len)
        return false;
    memcpy(out + o, "/cmd", sizeof("/cmd"));
    return true;
}

/* True when filter f has plus '+' levels and no '#'. */
static bool plus_levels(const char *f, size_t *plus)
{
    *plus = 0;
    for (const char *p = f; *p;) {
        size_t n = strcspn(p, "/");

        if (n == 1 && p[0] == '#')
            return false;
        *plus += n == 1 && p[0] == '+';
        p += n;
        p += *p == '/';
    }
    return true;
}

enum lw_err lw_cmd_route(const struct lw_cmd *c, const char *owntracks_filter,
                         const char *prefix, char *topic, size_t topic_len,
                         char *payload, size_t payload_len)
{
    static const char OT_CMD[] = "{\"_type\":\"cmd\",\"action\":"
                                 "\"reportLocation\"}";
    static const char LW_CMD[] = "{\"action\":\"report_now\"}";
    size_t plus = 0, dl;
    int n;

    if (!c || !prefix || !topic || !payload || topic_len == 0 ||
        payload_len == 0)
        return LW_ERR_INVAL;
    topic[0] = payload[0] = '\0';
    if (c->action != LW_CMD_REPORT_NOW || !c->device[0])
        return LW_ERR_NOTFOUND;
    /* empty levels or wildcards in a device name route nowhere */
    if (strpbrk(c->device, "+#") || c->device[0] == '/' ||
        strstr(c->device, "//") || c->device[strlen(c->device) - 1] == '/')
        return LW_ERR_NOTFOUND;
    dl = levels(c->device);
    if (owntracks_filter && owntracks_filter[0] &&
        plus_levels(owntracks_filter, &plus) && plus == dl) {
        if (!fill_filter(owntracks_filter, c->device, topic, topic_len))
            return LW_ERR_RANGE;
        if (sizeof(OT_CMD) > payload_len)
            return LW_ERR_RANGE;
        memcpy(payload, OT_CMD, sizeof(OT_CMD));
        return LW_OK;
    }
    if (dl != 1 || !prefix[0])
        return LW_ERR_NOTFOUND;
    n = snprintf(topic, topic_len, "%s/cmd/%s", prefix, c->device);
    if (n < 0 || (size_t)n >= topic_len || sizeof(LW_CMD) > payload_len) {
        topic[0] = '\0';
        return LW_ERR_RANGE;
    }
    memcpy(payload, LW_CMD, sizeof(LW_CMD));
    return LW_OK;
}
