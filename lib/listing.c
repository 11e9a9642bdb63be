/*
 * listing.c - the web service's lists (listing.h) on the store's
 * connection: cases or watched vehicles joined with the registry, the
 * accounts, the devices' last fixes (the last_* columns of devices, schema
 * migration 4) and the open alerts, in one statement each.
 *
 * Every statement selects the same columns in the same order (the case's,
 * then TAIL), so one decoder serves them all. The open alerts are counted
 * on alerts_by_device and the viewer's case found on cases_open (agent,
 * device): an index lookup each, inside the one statement.
 */
#include <stdio.h>
#include <string.h>

#include "lienwatch/listing.h"
#include "store_priv.h"

#define CASE_COLS                                                              \
    "c.id, c.device, c.agent, c.reason, c.opened_by, c.opened_ms, "            \
    "c.expires_ms, c.outcome, c.closed_ms, c.closed_by, c.note"
/* What every row has after the case's columns; ?4 is now_ms, ?5 the
 * viewer. DEV is the row's device expression. */
#define TAIL(DEV)                                                              \
    "v.device IS NOT NULL, v.vin, v.plate, v.description, v.account, "         \
    "v.offline_after_ms, v.registered_ms, v.updated_ms, "                      \
    "a.id IS NOT NULL, a.days_past_due, a.status, a.updated_ms, a.source, "    \
    "d.last_heard_ms, d.last_fix_time_ms, d.last_recv_time_ms, "               \
    "d.last_lat_deg, d.last_lon_deg, d.last_speed_mps, d.last_course_deg, "    \
    "d.last_accuracy_m, d.last_alt_m, d.last_battery_pct, "                    \
    "d.last_trigger_code, "                                                    \
    "(SELECT count(*) FROM alerts al WHERE al.device = " DEV                   \
    " AND al.state != 'closed'), "                                             \
    "(SELECT min(o.id) FROM cases o WHERE ?5 IS NOT NULL AND o.agent = ?5 "    \
    "AND o.device = " DEV " AND o.outcome = 'open' AND o.expires_ms > ?4)"
#define CASE_JOINS                                                             \
    " LEFT JOIN vehicles v ON v.device = c.device"                             \
    " LEFT JOIN accounts a ON v.account != '' AND a.id = v.account"            \
    " LEFT JOIN devices d ON d.id = c.device "

/* one agent's open cases (on cases_open), everyone's (on
 * cases_open_by_device): as cases.c lists them */
static const char SQL_CASES_AGENT[] =
    "SELECT " CASE_COLS
    ", " TAIL("c.device") " FROM cases c" CASE_JOINS
                          "WHERE c.agent = ?1 AND c.outcome = 'open' AND "
                          "c.expires_ms > ?4 "
                          "AND (?2 IS NULL OR c.device = ?2) ORDER BY c.id";
static const char SQL_CASES_ALL[] =
    "SELECT " CASE_COLS
    ", " TAIL("c.device") " FROM cases c INDEXED BY "
                          "cases_open_by_device" CASE_JOINS
                          "WHERE c.outcome = 'open' AND c.expires_ms > ?4 "
                          "AND (?2 IS NULL OR c.device = ?2) ORDER BY c.id";
/* the overdue accounts first (a pass over the accounts), then their
 * vehicles by vehicles_by_account: CROSS JOIN keeps that order (the planner
 * would otherwise walk all vehicles) */
static const char SQL_WATCHED[] =
    "SELECT 0, v.device, '', '', '', 0, 0, 'open', 0, '', '', " TAIL(
        "v.device") " FROM accounts a CROSS JOIN vehicles v "
                    "ON v.account = a.id LEFT JOIN devices d ON d.id = "
                    "v.device "
                    "WHERE a.days_past_due >= ?3 AND a.status NOT IN "
                    "('paid_off', 'closed') "
                    "ORDER BY a.id, v.device";

/* Column of the first TAIL column. */
#define T 11

static void decode(sqlite3_stmt *st, struct lw_listing_row *r)
{
    const unsigned char *trig;
    enum lw_case_outcome o = LW_CASE_OPEN;

    memset(r, 0, sizeof(*r));
    r->c.id = sqlite3_column_int64(st, 0);
    lw_db_col_copy(st, 1, r->c.device, sizeof(r->c.device));
    lw_db_col_copy(st, 2, r->c.agent, sizeof(r->c.agent));
    lw_db_col_copy(st, 3, r->c.reason, sizeof(r->c.reason));
    lw_db_col_copy(st, 4, r->c.opened_by, sizeof(r->c.opened_by));
    r->c.opened_ms = sqlite3_column_int64(st, 5);
    r->c.expires_ms = sqlite3_column_int64(st, 6);
    (void)lw_case_outcome_parse(lw_db_col_str(st, 7), &o);
    r->c.outcome = o;
    r->c.closed_ms = sqlite3_column_int64(st, 8);
    lw_db_col_copy(st, 9, r->c.closed_by, sizeof(r->c.closed_by));
    lw_db_col_copy(st, 10, r->c.note, sizeof(r->c.note));

    r->registered = sqlite3_column_int(st, T) != 0;
    snprintf(r->v.device, sizeof(r->v.device), "%s", r->c.device);
    if (r->registered) {
        lw_db_col_copy(st, T + 1, r->v.vin, sizeof(r->v.vin));
        lw_db_col_copy(st, T + 2, r->v.plate, sizeof(r->v.plate));
        lw_db_col_copy(st, T + 3, r->v.description, sizeof(r->v.description));
        lw_db_col_copy(st, T + 4, r->v.account, sizeof(r->v.account));
        r->v.offline_after_ms = sqlite3_column_int64(st, T + 5);
        r->v.registered_ms = sqlite3_column_int64(st, T + 6);
        r->v.updated_ms = sqlite3_column_int64(st, T + 7);
    }
    r->has_account = sqlite3_column_int(st, T + 8) != 0;
    if (r->has_account) {
        snprintf(r->a.account, sizeof(r->a.account), "%s", r->v.account);
        r->a.days_past_due = sqlite3_column_int(st, T + 9);
        lw_db_col_copy(st, T + 10, r->a.status, sizeof(r->a.status));
        r->a.updated_ms = sqlite3_column_int64(st, T + 11);
        lw_db_col_copy(st, T + 12, r->a.source, sizeof(r->a.source));
    }
    r->last_heard_ms = sqlite3_column_int64(st, T + 13);
    lw_fix_init(&r->fix);
    r->has_fix = sqlite3_column_type(st, T + 14) != SQLITE_NULL;
    if (r->has_fix) {
        snprintf(r->fix.device, sizeof(r->fix.device), "%s", r->c.device);
        r->fix.fix_time_ms = sqlite3_column_int64(st, T + 14);
        r->fix.recv_time_ms = sqlite3_column_int64(st, T + 15);
        r->fix.lat_deg = sqlite3_column_double(st, T + 16);
        r->fix.lon_deg = sqlite3_column_double(st, T + 17);
        r->fix.speed_mps = lw_db_col_opt_double(st, T + 18);
        r->fix.course_deg = lw_db_col_opt_double(st, T + 19);
        r->fix.accuracy_m = lw_db_col_opt_double(st, T + 20);
        r->fix.alt_m = lw_db_col_opt_double(st, T + 21);
        if (sqlite3_column_type(st, T + 22) != SQLITE_NULL)
            r->fix.battery_pct = sqlite3_column_int(st, T + 22);
        trig = sqlite3_column_text(st, T + 23);
        r->fix.trigger = trig ? (char)trig[0] : 0;
    }
    r->open_alerts = sqlite3_column_int(st, T + 24);
    r->viewer_case_id = sqlite3_column_int64(st, T + 25);
}

static int visit(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct lw_listing_row r;

    decode(st, &r);
    return (*(const lw_listing_cb *)cbp)(ctx, &r);
}

enum lw_err lw_listing_cases(struct lw_store *s, const struct lw_case_filter *f,
                             const char *viewer, lw_listing_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    static const struct lw_case_filter none;
    sqlite3_stmt *st;
    enum lw_err e;

    if (!lw_db_sqlite(db) || !cb)
        return LW_ERR_INVAL;
    if (!f)
        f = &none;
    st = lw_db_stmt(db, f->agent ? SQL_CASES_AGENT : SQL_CASES_ALL, &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, f->agent);
    lw_db_bind_text(db, st, 2, f->device);
    lw_db_bind_int64(db, st, 4, f->now_ms);
    lw_db_bind_text(db, st, 5, viewer);
    return lw_db_each_row(db, st, visit, &cb, ctx, "listing cases");
}

enum lw_err lw_listing_watched(struct lw_store *s, int min_days_past_due,
                               const char *viewer, int64_t now_ms,
                               lw_listing_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    enum lw_err e;

    if (!lw_db_sqlite(db) || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, SQL_WATCHED, &e);
    if (!st)
        return e;
    lw_db_bind_int(db, st, 3, min_days_past_due < 1 ? 1 : min_days_past_due);
    lw_db_bind_int64(db, st, 4, now_ms);
    lw_db_bind_text(db, st, 5, viewer);
    return lw_db_each_row(db, st, visit, &cb, ctx, "listing watched vehicles");
}
