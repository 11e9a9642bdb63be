/*
 * api.c - the JSON API under /api/v1/: authentication (session cookie or
 * bearer token), CSRF, the access rules of access.h, an audit record for
 * every answer that shows a location, and the resources of webreq.h.
 *
 * Answers: JSON; errors {"error": "one sentence"}. An agent asking for a
 * vehicle outside their open cases gets the same 404 as for one that does
 * not exist; ops asking for an unwatched vehicle without a reason get 403
 * saying a reason is needed; admin sees no locations (403). When the audit
 * record of a look cannot be written, nothing is shown (503).
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/alert.h"
#include "lienwatch/cases.h"
#include "lienwatch/commands.h"
#include "lienwatch/geo.h"
#include "lienwatch/jsonw.h"
#include "lienwatch/listing.h"
#include "lienwatch/places.h"
#include "lienwatch/registry.h"
#include "lienwatch/timeutil.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "web.h"

#define COOKIE_NAME "lw_session"
/* How often a bearer token's last use is written (lw_token_touch keeps it
 * to the minute). */
#define TOKEN_TOUCH_MS 60000
/* Default and largest radius of /near, m. */
#define NEAR_DEFAULT_M 5000.0
#define NEAR_MAX_M 500000.0
/* Default and longest window of /places, days. */
#define PLACES_DAYS_DEFAULT 30
#define PLACES_DAYS_MAX 90
#define MS_PER_DAY (86400LL * 1000)
/* Decimals kept of the places' shares (usual_hours, likely_now) and radius,
 * as lienwatch places --json prints them. */
#define SHARE_SCALE 1000.0
#define RADIUS_SCALE 10.0
/* Default history window, ms (the page's trail), and most fixes returned. */
#define HISTORY_DEFAULT_MS (24LL * 3600 * 1000)
#define HISTORY_MAX_FIXES 100000

json_t *lww_time_json(int64_t ms)
{
    char t[LW_TIME_BUFLEN];

    if (ms == 0)
        return json_null();
    return json_string(lw_time_format(ms, t, sizeof(t)));
}

static json_t *real_or_null(double v)
{
    return lw_has(v) ? json_real(v) : json_null();
}

json_t *lww_fix_json(const struct lw_fix *f)
{
    return json_pack("{s:f, s:f, s:o, s:o, s:o, s:o, s:o}", "lat", f->lat_deg,
                     "lon", f->lon_deg, "fix_time",
                     lww_time_json(f->fix_time_ms), "received_time",
                     lww_time_json(f->recv_time_ms), "accuracy_m",
                     real_or_null(f->accuracy_m), "speed_mps",
                     real_or_null(f->speed_mps), "course_deg",
                     real_or_null(f->course_deg));
}

static json_t *str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

/* The role a person acts in for a look with basis. */
static const char *acting_role(const struct lww_who *who, const char *basis)
{
    if (basis && strcmp(basis, "case") == 0)
        return "agent";
    if (who->roles & LW_ROLE_OPS)
        return "ops";
    if (who->roles & LW_ROLE_AGENT)
        return "agent";
    return "admin";
}

static const char *main_role(unsigned roles)
{
    return roles & LW_ROLE_OPS     ? "ops"
           : roles & LW_ROLE_AGENT ? "agent"
                                   : "admin";
}

/* ---- authentication --------------------------------------------------- */

static void audit_template(const struct lww_who *who, const char *client,
                           struct lw_audit_rec *by)
{
    memset(by, 0, sizeof(*by));
    by->who = who->name;
    by->role = main_role(who->roles);
    by->via = "web";
    by->client = client;
}

/*
 * Who is asking: a bearer token, else the session cookie. False when it
 * answered (401, 403 CSRF, 503). needs_csrf: the request changes state.
 */
static bool authenticate(struct lww_req *r, struct lww_who *who,
                         enum MHD_Result *ret)
{
    struct lww *w = r->w;
    const char *authz = lww_header(r, "Authorization");
    const char *cookie = lww_header(r, "Cookie");
    char tok[LW_SESSION_TOKEN_LEN + 8];
    struct lw_session_info si;
    struct lw_user u;
    enum lw_err e;

    memset(who, 0, sizeof(*who));
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        struct lw_token t;
        const char *text = authz + 7;
        while (*text == ' ')
            text++;
        e = lw_token_lookup(w->store, text, r->now_ms, &t);
        if (e == LW_ERR_NOTFOUND || e == LW_ERR_INVAL) {
            *ret = lww_reply_error(r, 401, "unknown, revoked or expired token");
            return false;
        }
        if (e != LW_OK) {
            *ret = lww_reply_error(r, 503, "database: %s",
                                   lw_store_errmsg(w->store));
            return false;
        }
        /* its last use is kept to the minute (lw_token_touch): a write,
         * and so a wait for lienwatchd's lock, once a minute at most
         * rather than on every request */
        if (r->now_ms - t.last_used_ms >= TOKEN_TOUCH_MS &&
            lw_token_touch(w->store, t.id, r->now_ms) != LW_OK)
            lwrt_log(LOG_DEBUG, "token %s: last use not recorded: %s",
                     t.name, lw_store_errmsg(w->store));
        snprintf(who->name, sizeof(who->name), "%s", t.name);
        who->roles = t.roles;
        return true;
    }
    if (!cookie || !lw_webreq_cookie(cookie, COOKIE_NAME, tok, sizeof(tok)) ||
        lw_session_check(w->sessions, tok, r->now_ms, &si) != LW_OK) {
        *ret = lww_reply_error(r, 401, "not signed in (or the session ended)");
        return false;
    }
    /* a user disabled since the login is out at once */
    e = lw_user_get(w->store, si.user, &u);
    if (e == LW_ERR_NOTFOUND || (e == LW_OK && u.disabled)) {
        lw_session_end_user(w->sessions, si.user);
        *ret = lww_reply_error(r, 401, "not signed in (or the session ended)");
        return false;
    }
    if (e != LW_OK) {
        *ret = lww_reply_error(r, 503, "database: %s",
                               lw_store_errmsg(w->store));
        return false;
    }
    snprintf(who->name, sizeof(who->name), "%s", si.user);
    who->roles = u.roles;
    who->cookie = true;
    who->session = si.serial;
    memcpy(who->csrf, si.csrf, sizeof(who->csrf));
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 &&
        !lw_session_csrf_ok(&si, lww_header(r, "X-CSRF-Token"))) {
        *ret = lww_reply_error(r, 403,
                               "missing or wrong X-CSRF-Token header (the "
                               "value from the login answer)");
        return false;
    }
    return true;
}

static enum MHD_Result reply_with_cookie(struct lww_req *r, unsigned status,
                                         json_t *o, const char *cookie)
{
    struct MHD_Response *resp;
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    enum MHD_Result ret;

    json_decref(o);
    if (!text)
        return lww_reply_error(r, 500, "out of memory");
    resp = MHD_create_response_from_buffer(strlen(text), text,
                                           MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Set-Cookie", cookie);
    lww_security_headers(r->w, resp);
    ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->answered = true;
    return ret;
}

static json_t *roles_json(unsigned roles)
{
    json_t *a = json_array();

    if (roles & LW_ROLE_AGENT)
        json_array_append_new(a, json_string("agent"));
    if (roles & LW_ROLE_OPS)
        json_array_append_new(a, json_string("ops"));
    if (roles & LW_ROLE_ADMIN)
        json_array_append_new(a, json_string("admin"));
    return a;
}

/* Answers 429 with Retry-After. */
static enum MHD_Result throttled(struct lww_req *r, int64_t retry_s)
{
    struct MHD_Response *resp;
    char body[200], ra[32];
    enum MHD_Result ret;

    snprintf(body, sizeof(body),
             "{\"error\":\"too many failed logins; try again in %lld s\"}",
             (long long)retry_s);
    snprintf(ra, sizeof(ra), "%lld", (long long)retry_s);
    resp = MHD_create_response_from_buffer(strlen(body), body,
                                           MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Retry-After", ra);
    lww_security_headers(r->w, resp);
    ret = MHD_queue_response(r->conn, 429, resp);
    MHD_destroy_response(resp);
    r->answered = true;
    return ret;
}

/*
 * POST /api/v1/session. First call: parse, throttle, read the stored hash,
 * hand the check to the worker (login.c) and suspend. Second call (after
 * the check): answer.
 */
static enum MHD_Result login(struct lww_req *r)
{
    struct lww *w = r->w;
    struct lw_login_req lr;
    struct lw_session_info si;
    struct lw_audit_rec rec = {0};
    struct lw_user *u = &r->login_user;
    char err[300], tok[LW_SESSION_TOKEN_LEN], cookie[200];
    char hash[LW_USER_HASH_MAX + 1] = "";
    int64_t retry_s = 0;
    enum lw_err e;
    int st;

    if (r->login_state == LWW_LOGIN_PENDING)
        return MHD_YES; /* resumed too early: cannot happen, but harmless */
    if (r->login_state == LWW_LOGIN_NONE) {
        st = lw_webreq_login(r->body, r->len, &lr, err, sizeof(err));
        if (st)
            return lww_reply_error(r, (unsigned)st, "%s", err);
        snprintf(r->login_name, sizeof(r->login_name), "%s", lr.username);
        if (lw_login_throttled(w->sessions, lr.username, r->client,
                               r->now_ms, &retry_s)) {
            sodium_memzero(lr.password, sizeof(lr.password));
            lwrt_log(LOG_NOTICE, "login of '%s' from %s refused: throttled",
                     lr.username, r->client);
            return throttled(r, retry_s);
        }
        e = lw_user_hash_get(w->store, lr.username, hash, u);
        if (e != LW_OK && e != LW_ERR_NOTFOUND) {
            sodium_memzero(lr.password, sizeof(lr.password));
            return lww_reply_error(r, 503, "database: %s",
                                   lw_store_errmsg(w->store));
        }
        r->login_known = e == LW_OK;
        /* an unknown name is checked against "" all the same: the time
         * does not tell which names exist */
        st = lww_login_start(r, r->login_known ? hash : "", lr.password);
        sodium_memzero(lr.password, sizeof(lr.password));
        sodium_memzero(hash, sizeof(hash));
        if (st != 0)
            return lww_reply_error(r, 503, "cannot check the password now");
        return MHD_YES;
    }
    /* LWW_LOGIN_DONE */
    r->now_ms = lwrt_wall_ms();
    if (!r->login_ok || !r->login_known || u->disabled) {
        lw_login_failed(w->sessions, r->login_name, r->client, r->now_ms);
        lwrt_log(LOG_NOTICE, "failed login for '%s' from %s", r->login_name,
                 r->client);
        return lww_reply_error(r, 401, "wrong user name or password");
    }
    if (lw_session_create(w->sessions, u->name, u->roles, r->now_ms, tok,
                          &si) != LW_OK)
        return lww_reply_error(r, 500, "cannot create a session");
    rec.at_ms = r->now_ms;
    rec.who = u->name;
    rec.action = "web login";
    rec.role = main_role(u->roles);
    rec.via = "web";
    rec.client = r->client;
    if (lw_audit_append(w->store, &rec, NULL) != LW_OK)
        lwrt_log(LOG_WARNING, "audit record of %s's login: %s", u->name,
                 lw_store_errmsg(w->store));
    snprintf(cookie, sizeof(cookie),
             COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict%s", tok,
             w->tls ? "; Secure" : "");
    sodium_memzero(tok, sizeof(tok));
    lwrt_log(LOG_INFO, "%s signed in from %s", u->name, r->client);
    return reply_with_cookie(
        r, 200,
        json_pack("{s:s, s:s, s:o, s:s}", "username", u->name, "role",
                  main_role(u->roles), "roles", roles_json(u->roles), "csrf",
                  si.csrf),
        cookie);
}

static enum MHD_Result session(struct lww_req *r)
{
    struct lww_who who;
    enum MHD_Result ret;
    char tok[LW_SESSION_TOKEN_LEN + 8];
    const char *cookie;

    if (strcmp(r->method, "POST") == 0)
        return login(r);
    if (!authenticate(r, &who, &ret))
        return ret;
    if (strcmp(r->method, "DELETE") == 0) {
        cookie = lww_header(r, "Cookie");
        if (cookie && lw_webreq_cookie(cookie, COOKIE_NAME, tok, sizeof(tok)))
            lw_session_end(r->w->sessions, tok);
        lwrt_log(LOG_INFO, "%s signed out from %s", who.name, r->client);
        return reply_with_cookie(
            r, 200, json_pack("{s:b}", "signed_out", 1),
            COOKIE_NAME "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    }
    return lww_reply_json(
        r, 200,
        json_pack("{s:s, s:s, s:o, s:o}", "username", who.name, "role",
                  main_role(who.roles), "roles", roles_json(who.roles),
                  "csrf", who.cookie ? json_string(who.csrf) : json_null()));
}

/* ---- access ------------------------------------------------------------- */

/* What is known of a vehicle for an access decision. */
struct look {
    bool registered;        /* in the registry */
    struct lw_vehicle v;    /* when registered */
    bool has_account;       /* its account is known */
    struct lw_account a;    /* when known */
    bool watched;           /* the account is watched */
    int64_t case_id;        /* the caller's open case for it; 0 */
    struct lw_access_decision d; /* the decision */
};

/* Decides whether who may see device (reason may be NULL). LW_OK or a
 * database error. */
static enum lw_err decide(struct lww *w, const struct lww_who *who,
                          const char *device, const char *reason,
                          int64_t now_ms, struct look *k)
{
    struct lw_access_req q = {0};
    enum lw_err e;

    memset(k, 0, sizeof(*k));
    e = lw_registry_vehicle_get(w->store, device, &k->v);
    if (e != LW_OK && e != LW_ERR_NOTFOUND)
        return e;
    k->registered = e == LW_OK;
    if (k->registered && k->v.account[0]) {
        e = lw_registry_account_get(w->store, k->v.account, &k->a);
        if (e != LW_OK && e != LW_ERR_NOTFOUND)
            return e;
        k->has_account = e == LW_OK;
    }
    k->watched = k->has_account &&
                 lw_access_account_watched(k->a.days_past_due, k->a.status,
                                           w->cfg.watch_days_past_due);
    if (who->roles & LW_ROLE_AGENT) {
        e = lw_case_active(w->store, who->name, device, now_ms, &k->case_id);
        if (e != LW_OK && e != LW_ERR_NOTFOUND)
            return e;
    }
    q.roles = who->roles;
    q.watched = k->watched;
    q.case_open = k->case_id > 0;
    q.reason = reason;
    q.unwatched = w->unwatched;
    lw_access_decide(&q, &k->d);
    return LW_OK;
}

bool lww_may_see(struct lww *w, const struct lww_who *who, const char *device,
                 int64_t now_ms, int64_t *case_id, const char **basis)
{
    struct look k;

    if (decide(w, who, device, NULL, now_ms, &k) != LW_OK ||
        k.d.verdict != LW_ACCESS_GRANTED)
        return false;
    *case_id = k.case_id;
    *basis = k.d.basis;
    return true;
}

bool lww_audit_look(struct lww *w, const struct lww_who *who,
                    const char *client, const char *action,
                    const char *device, int64_t case_id, const char *reason,
                    const char *basis, const char *detail, int64_t now_ms)
{
    struct lw_audit_rec rec;
    char cid[24];

    audit_template(who, client, &rec);
    rec.at_ms = now_ms;
    rec.action = action;
    rec.device = device;
    rec.reason = reason && reason[0] ? reason : NULL;
    rec.role = acting_role(who, basis);
    rec.basis = basis;
    rec.detail = detail;
    if (case_id > 0) {
        snprintf(cid, sizeof(cid), "%lld", (long long)case_id);
        rec.case_id = cid;
    }
    if (lw_audit_append(w->store, &rec, NULL) != LW_OK) {
        lwrt_log(LOG_ERR, "audit record of %s's look at %s: %s", who->name,
                 device, lw_store_errmsg(w->store));
        return false;
    }
    return true;
}

/*
 * The looks of one answer that lists many vehicles: gathered while the
 * answer is built (read-only), then recorded in one short write
 * transaction, so the write lock is held for the appends alone and
 * lienwatchd's commits are not kept waiting behind our reads.
 */
struct looks {
    struct look_rec {
        char device[LW_DEVICE_MAX + 1]; /* what was shown */
        int64_t case_id;                /* under which case; 0 */
        const char *basis;              /* static, from lw_access_decide */
    } *v;
    size_t n, cap; /* used, allocated */
};

static bool looks_add(struct looks *l, const char *device, int64_t case_id,
                      const char *basis)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct look_rec *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return false;
        l->v = v;
        l->cap = cap;
    }
    snprintf(l->v[l->n].device, sizeof(l->v[0].device), "%s", device);
    l->v[l->n].case_id = case_id;
    l->v[l->n].basis = basis;
    l->n++;
    return true;
}

/* Records every look of l (one audit record each, in one transaction);
 * frees l. False (nothing recorded, logged) on failure. */
static bool looks_record(struct lww *w, const struct lww_who *who,
                         const char *client, const char *action,
                         struct looks *l, int64_t now_ms)
{
    struct lw_audit_rec *recs = NULL;
    char (*cids)[24] = NULL;
    bool ok = true;

    if (l->n) {
        recs = calloc(l->n, sizeof(*recs));
        cids = calloc(l->n, sizeof(*cids));
        ok = recs && cids;
        for (size_t i = 0; ok && i < l->n; i++) {
            audit_template(who, client, &recs[i]);
            recs[i].at_ms = now_ms;
            recs[i].action = action;
            recs[i].device = l->v[i].device;
            recs[i].role = acting_role(who, l->v[i].basis);
            recs[i].basis = l->v[i].basis;
            if (l->v[i].case_id > 0) {
                snprintf(cids[i], sizeof(cids[i]), "%lld",
                         (long long)l->v[i].case_id);
                recs[i].case_id = cids[i];
            }
        }
        if (ok && lw_audit_append_many(w->store, recs, l->n) != LW_OK) {
            lwrt_log(LOG_ERR, "audit records of %s's %s (%zu looks): %s",
                     who->name, action, l->n, lw_store_errmsg(w->store));
            ok = false;
        }
    }
    free(recs);
    free(cids);
    free(l->v);
    memset(l, 0, sizeof(*l));
    return ok;
}

/* The stated reason: ?reason= or X-Reason. "" when none; NULL when
 * malformed (answered 400). */
static const char *get_reason(struct lww_req *r, char *buf, size_t len)
{
    bool bad = false;
    const char *q = lww_query(r, "reason", buf, len, &bad);
    const char *h;

    if (bad)
        return NULL;
    if (q)
        return buf;
    h = lww_header(r, "X-Reason");
    if (!h) {
        buf[0] = '\0';
        return buf;
    }
    if (strlen(h) >= len)
        return NULL;
    snprintf(buf, len, "%s", h);
    return buf;
}

/*
 * The access check of a look at device. False when it answered: 404 (an
 * agent outside their cases, or unknown), 403 (reason needed, denied),
 * 503.
 */
static bool check_look(struct lww_req *r, const struct lww_who *who,
                       const char *device, const char *reason,
                       struct look *k, enum MHD_Result *ret)
{
    struct lww *w = r->w;
    struct lw_device_info di;
    enum lw_err e = decide(w, who, device, reason, r->now_ms, k);

    if (e != LW_OK) {
        *ret = lww_reply_error(r, 503, "database: %s",
                               lw_store_errmsg(w->store));
        return false;
    }
    switch (k->d.verdict) {
    case LW_ACCESS_GRANTED:
        break;
    case LW_ACCESS_HIDDEN:
        *ret = lww_reply_error(r, 404, "no such vehicle");
        return false;
    case LW_ACCESS_NEED_REASON:
    case LW_ACCESS_DENIED:
        if (!k->registered &&
            lw_store_device_get(w->store, device, &di) == LW_ERR_NOTFOUND) {
            *ret = lww_reply_error(r, 404, "no such vehicle");
            return false;
        }
        *ret = lww_reply_error(r, 403, "%s%s", k->d.why,
                               k->d.verdict == LW_ACCESS_NEED_REASON
                                   ? " (give it as ?reason=... or in the "
                                     "X-Reason header; it is recorded)"
                                   : "");
        return false;
    }
    return true;
}

static int count_alert(void *ctx, const struct lw_alert_row *a)
{
    (void)a;
    (*(int *)ctx)++;
    return 0;
}

static int open_alerts(struct lww *w, const char *device)
{
    struct lw_alert_filter f = {.device = device, .open_only = true};
    int n = 0;

    lw_registry_alerts(w->store, &f, count_alert, &n);
    return n;
}

/* ---- GET /vehicles/{device} -------------------------------------------- */

static enum MHD_Result vehicle(struct lww_req *r, const struct lww_who *who,
                               const char *device)
{
    struct lww *w = r->w;
    char rbuf[LW_WEBREQ_TEXT_MAX + 1], url[200], geo[200];
    const char *reason = get_reason(r, rbuf, sizeof(rbuf));
    struct look k;
    struct lw_fix f;
    struct lw_device_info di;
    bool has_fix, has_dev;
    enum MHD_Result ret;
    json_t *o;

    if (!reason)
        return lww_reply_error(r, 400, "reason: malformed or too long");
    if (!check_look(r, who, device, reason, &k, &ret))
        return ret;
    has_fix = lw_store_last_fix(w->store, device, &f) == LW_OK;
    has_dev = lw_store_device_get(w->store, device, &di) == LW_OK;
    if (!lww_audit_look(w, who, r->client, "web locate", device, k.case_id,
                        reason, k.d.basis, NULL, r->now_ms))
        return lww_reply_error(r, 503,
                               "the look cannot be recorded, so nothing is "
                               "shown (database busy or full)");
    o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:s, s:i}",
                  "device", device, "plate", str_or_null(k.v.plate), "vin",
                  str_or_null(k.v.vin), "description",
                  str_or_null(k.v.description), "account",
                  str_or_null(k.v.account), "watched", k.watched,
                  "days_past_due",
                  k.has_account ? json_integer(k.a.days_past_due)
                                : json_null(),
                  "case_id",
                  k.case_id ? json_integer(k.case_id) : json_null(), "basis",
                  k.d.basis, "open_alerts", open_alerts(w, device));
    if (!o)
        return lww_reply_error(r, 500, "out of memory");
    json_object_set_new(o, "last_heard",
                        lww_time_json(has_dev ? di.last_heard_ms : 0));
    if (has_fix) {
        snprintf(url, sizeof(url),
                 "https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f"
                 "#map=17/%.6f/%.6f",
                 f.lat_deg, f.lon_deg, f.lat_deg, f.lon_deg);
        snprintf(geo, sizeof(geo), "geo:%.6f,%.6f", f.lat_deg, f.lon_deg);
        json_object_set_new(o, "fix", lww_fix_json(&f));
        json_object_set_new(o, "lat", json_real(f.lat_deg));
        json_object_set_new(o, "lon", json_real(f.lon_deg));
        json_object_set_new(o, "fix_time", lww_time_json(f.fix_time_ms));
        json_object_set_new(o, "age_s", json_integer((r->now_ms -
                                                      f.fix_time_ms) /
                                                     1000));
        json_object_set_new(o, "accuracy_m", real_or_null(f.accuracy_m));
        json_object_set_new(o, "speed_mps", real_or_null(f.speed_mps));
        json_object_set_new(o, "course_deg", real_or_null(f.course_deg));
        json_object_set_new(o, "battery_pct",
                            f.battery_pct >= 0 ? json_integer(f.battery_pct)
                                               : json_null());
        json_object_set_new(o, "osm_url", json_string(url));
        json_object_set_new(o, "geo_uri", json_string(geo));
    } else {
        json_object_set_new(o, "fix", json_null());
    }
    return lww_reply_json(r, 200, o);
}

/* ---- GET /vehicles/{device}/places ------------------------------------- */

static void jw_time(struct lw_jw *jw, const char *key, int64_t ms);

/* Adds one stored fix to the places history (an lw_fix_cb). */
static int places_add(void *ctx, const struct lw_fix *f)
{
    return lw_places_add(ctx, f) != LW_OK;
}

/*
 * Where the vehicle usually parks, most likely first: what 'lienwatch
 * places --json' prints, from the fixes of the last ?days= days (30),
 * local time in [places] timezone. A place is a position: the gate and the
 * audit record of the vehicle view.
 */
static enum MHD_Result places(struct lww_req *r, const struct lww_who *who,
                              const char *device)
{
    struct lww *w = r->w;
    char rbuf[LW_WEBREQ_TEXT_MAX + 1], buf[32], err[300] = "", detail[200];
    const char *reason = get_reason(r, rbuf, sizeof(rbuf));
    struct lw_places *pl = NULL;
    struct lw_jw jw;
    struct look k;
    int64_t days = PLACES_DAYS_DEFAULT;
    size_t n = 0, len = 0;
    bool bad = false;
    enum MHD_Result ret;
    enum lw_err e;
    char *text;

    if (!reason)
        return lww_reply_error(r, 400, "reason: malformed or too long");
    if (lww_query(r, "days", buf, sizeof(buf), &bad) &&
        lw_webreq_int("days", buf, 1, PLACES_DAYS_MAX, &days, err,
                      sizeof(err)) != LW_OK)
        return lww_reply_error(r, 400, "%s", err);
    if (bad)
        return lww_reply_error(r, 400, "days: malformed");
    if (!check_look(r, who, device, reason, &k, &ret))
        return ret;
    e = lw_places_new(NULL, &pl, err, sizeof(err));
    if (e == LW_OK)
        e = lw_store_history(w->store, device, r->now_ms - days * MS_PER_DAY,
                             INT64_MAX, places_add, pl);
    if (e == LW_OK && lw_places_stats(pl)->fixes_in > 0)
        e = lw_places_compute(pl, w->tz, r->now_ms, err, sizeof(err));
    if (e != LW_OK) {
        lw_places_free(pl);
        return lww_reply_error(r, e == LW_ERR_NOMEM ? 500 : 503, "places: %s",
                               err[0] ? err : lw_store_errmsg(w->store));
    }
    n = lw_places_stats(pl)->fixes_in > 0 ? lw_places_count(pl) : 0;
    snprintf(detail, sizeof(detail), "days=%lld tz=%s, %zu places",
             (long long)days, lw_tz_name(w->tz), n);
    if (!lww_audit_look(w, who, r->client, "web places", device, k.case_id,
                        reason, k.d.basis, detail, r->now_ms)) {
        lw_places_free(pl);
        return lww_reply_error(r, 503,
                               "the look cannot be recorded, so nothing is "
                               "shown (database busy or full)");
    }
    lw_jw_init(&jw);
    lw_jw_object(&jw);
    lw_jw_kstring(&jw, "device", device);
    lw_jw_kstring(&jw, "timezone", lw_tz_name(w->tz));
    lw_jw_kint(&jw, "days", days);
    lw_jw_key(&jw, "places");
    lw_jw_array(&jw);
    for (size_t i = 0; i < n; i++) {
        const struct lw_place *p = lw_places_get(pl, i);

        lw_jw_object(&jw);
        lw_jw_kint(&jw, "rank", (int64_t)i + 1);
        lw_jw_kreal(&jw, "lat", p->lat_deg);
        lw_jw_kreal(&jw, "lon", p->lon_deg);
        lw_jw_kreal(&jw, "radius_m",
                    round(p->radius_m * RADIUS_SCALE) / RADIUS_SCALE);
        lw_jw_kint(&jw, "visits", p->visits);
        lw_jw_kint(&jw, "nights", p->nights);
        lw_jw_kint(&jw, "dwell_s", p->dwell_ms / 1000);
        jw_time(&jw, "first_seen", p->first_seen_ms);
        jw_time(&jw, "last_seen", p->last_seen_ms);
        lw_jw_key(&jw, "usual_hours");
        lw_jw_array(&jw);
        for (int h = 0; h < 24; h++)
            lw_jw_real(&jw, round(p->usual_hours[h] * SHARE_SCALE) /
                                SHARE_SCALE);
        lw_jw_array_end(&jw);
        lw_jw_kreal(&jw, "likely_now",
                    round(p->likely_now * SHARE_SCALE) / SHARE_SCALE);
        lw_jw_kbool(&jw, "here_now", p->here_now);
        lw_jw_object_end(&jw);
    }
    lw_jw_array_end(&jw);
    lw_jw_object_end(&jw);
    lw_places_free(pl);
    text = lw_jw_take(&jw, &len);
    if (!text)
        return lww_reply_error(r, 500, "out of memory");
    return lww_reply_owned(r, 200, "application/json", text, len);
}

/* ---- GET /vehicles/{device}/history ------------------------------------ */

struct hist {
    FILE *out;      /* open_memstream */
    int format;     /* see below */
    size_t n;       /* fixes written */
};

enum { H_JSON, H_GEOJSON, H_GPX, H_CSV, H_KML };

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static int hist_cb(void *ctx, const struct lw_fix *f)
{
    struct hist *h = ctx;
    char t[LW_TIME_BUFLEN];
    json_t *o;
    char *s;

    if (h->n >= HISTORY_MAX_FIXES)
        return 1;
    lw_time_format(f->fix_time_ms, t, sizeof(t));
    switch (h->format) {
    case H_JSON:
    case H_GEOJSON:
        if (h->format == H_JSON)
            o = lww_fix_json(f);
        else
            o = json_pack("{s:s, s:{s:s, s:[f, f]}, s:{s:s}}", "type",
                          "Feature", "geometry", "type", "Point",
                          "coordinates", f->lon_deg, f->lat_deg,
                          "properties", "time", t);
        s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(o);
        if (!s)
            return 1;
        fprintf(h->out, "%s%s", h->n ? "," : "", s);
        free(s);
        break;
    case H_CSV:
        fprintf(h->out, "%s,%.7f,%.7f,", t, f->lat_deg, f->lon_deg);
        if (lw_has(f->accuracy_m))
            fprintf(h->out, "%.1f", f->accuracy_m);
        fputc(',', h->out);
        if (lw_has(f->speed_mps))
            fprintf(h->out, "%.2f", f->speed_mps);
        fputs("\r\n", h->out);
        break;
    case H_GPX:
        fprintf(h->out,
                "<trkpt lat=\"%.7f\" lon=\"%.7f\"><time>%s</time></trkpt>\n",
                f->lat_deg, f->lon_deg, t);
        break;
    case H_KML:
        fprintf(h->out, "<gx:when>%s</gx:when><gx:coord>%.7f %.7f 0"
                        "</gx:coord>\n",
                t, f->lon_deg, f->lat_deg);
        break;
    }
    h->n++;
    return 0;
}

static enum MHD_Result history(struct lww_req *r, const struct lww_who *who,
                               const char *device)
{
    static const char *const names[] = {"json", "geojson", "gpx", "csv",
                                        "kml"};
    static const char *const types[] = {
        "application/json", "application/geo+json", "application/gpx+xml",
        "text/csv; charset=utf-8", "application/vnd.google-earth.kml+xml"};
    struct lww *w = r->w;
    char rbuf[LW_WEBREQ_TEXT_MAX + 1], buf[64], err[200], detail[120];
    char disp[LW_DEVICE_MAX + 80];
    const char *reason = get_reason(r, rbuf, sizeof(rbuf));
    struct hist h = {.format = H_JSON};
    int64_t from = r->now_ms - HISTORY_DEFAULT_MS, to = r->now_ms;
    struct look k;
    char *data = NULL;
    size_t size = 0;
    bool bad = false;
    enum MHD_Result ret;
    enum lw_err e;

    if (!reason)
        return lww_reply_error(r, 400, "reason: malformed or too long");
    if (lww_query(r, "format", buf, sizeof(buf), &bad)) {
        size_t i;
        for (i = 0; i < 5 && strcmp(buf, names[i]) != 0; i++)
            ;
        if (i == 5)
            return lww_reply_error(
                r, 400, "format: one of json, geojson, gpx, csv, kml");
        h.format = (int)i;
    }
    if (lww_query(r, "from", buf, sizeof(buf), &bad) &&
        lw_webreq_time("from", buf, &from, err, sizeof(err)) != LW_OK)
        return lww_reply_error(r, 400, "%s", err);
    if (lww_query(r, "to", buf, sizeof(buf), &bad) &&
        lw_webreq_time("to", buf, &to, err, sizeof(err)) != LW_OK)
        return lww_reply_error(r, 400, "%s", err);
    if (bad)
        return lww_reply_error(r, 400, "a query value is malformed");
    if (from > to)
        return lww_reply_error(r, 400, "from is later than to");
    if (!check_look(r, who, device, reason, &k, &ret))
        return ret;
    h.out = open_memstream(&data, &size);
    if (!h.out)
        return lww_reply_error(r, 500, "out of memory");
    switch (h.format) {
    case H_JSON:
        fputs("[", h.out);
        break;
    case H_GEOJSON:
        fputs("{\"type\":\"FeatureCollection\",\"features\":[", h.out);
        break;
    case H_CSV:
        fputs("time,lat,lon,accuracy_m,speed_mps\r\n", h.out);
        break;
    case H_GPX:
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\""
              " creator=\"lienwatch\" xmlns=\"http://www.topografix.com/GPX/1/1\">"
              "\n<trk><name>",
              h.out);
        xml_text(h.out, device);
        fputs("</name><trkseg>\n", h.out);
        break;
    case H_KML:
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<kml xmlns=\""
              "http://www.opengis.net/kml/2.2\" xmlns:gx=\"http://www.google"
              ".com/kml/ext/2.2\"><Document><Placemark><name>",
              h.out);
        xml_text(h.out, device);
        fputs("</name><gx:Track>\n", h.out);
        break;
    }
    e = lw_store_history(w->store, device, from, to, hist_cb, &h);
    switch (h.format) {
    case H_JSON:
        fputs("]", h.out);
        break;
    case H_GEOJSON:
        fputs("]}", h.out);
        break;
    case H_GPX:
        fputs("</trkseg></trk></gpx>\n", h.out);
        break;
    case H_KML:
        fputs("</gx:Track></Placemark></Document></kml>\n", h.out);
        break;
    }
    fclose(h.out);
    if (e != LW_OK) {
        free(data);
        return lww_reply_error(r, 503, "database: %s",
                               lw_store_errmsg(w->store));
    }
    snprintf(detail, sizeof(detail), "history %s, %zu fixes",
             names[h.format], h.n);
    if (!lww_audit_look(w, who, r->client, "web history", device, k.case_id,
                        reason, k.d.basis, detail, r->now_ms)) {
        free(data);
        return lww_reply_error(r, 503, "the look cannot be recorded, so "
                                       "nothing is shown");
    }
    snprintf(disp, sizeof(disp), "inline; filename=\"history.%s\"",
             names[h.format]);
    ret = lww_reply_text(r, 200, types[h.format], data, size,
                         h.format == H_JSON ? NULL : disp);
    free(data);
    return ret;
}

/* ---- GET /cases, POST /cases, POST /cases/{id}/close -------------------- */

/*
 * The lists (cases, near, watched): rows come from one joined query
 * (listing.h), the access decision is made per row from what the row holds
 * (no lookups), and the answer is written as it goes (jsonw.h). With the
 * caller's position the items are sorted nearest first: each item's text
 * is kept in one buffer with its distance, and the answer is assembled in
 * order at the end.
 */
struct list_item {
    size_t off, len; /* the item's JSON in the scratch text */
    double dist_m;   /* its distance; INFINITY when unknown */
};

struct list {
    struct lww_req *r;
    const struct lww_who *who;
    struct lw_jw jw;        /* the items (an array) */
    struct list_item *items; /* when sorting (owned) */
    size_t n, cap;          /* items written, allocated */
    bool here;              /* lat/lon given */
    double lat, lon;        /* the caller's position */
    double radius_m;        /* near: how far */
    bool failed;            /* out of memory */
    struct looks looks;     /* what was shown, recorded after */
};

/* The access decision for a listed row, as decide() makes it for one
 * vehicle (without a reason: lists show watched vehicles only). */
static void decide_listed(struct lww *w, const struct lww_who *who,
                          const struct lw_listing_row *row, bool *watched,
                          int64_t *case_id, struct lw_access_decision *d)
{
    struct lw_access_req q = {0};

    *watched = row->has_account &&
               lw_access_account_watched(row->a.days_past_due, row->a.status,
                                         w->cfg.watch_days_past_due);
    *case_id = who->roles & LW_ROLE_AGENT ? row->viewer_case_id : 0;
    q.roles = who->roles;
    q.watched = *watched;
    q.case_open = *case_id > 0;
    q.unwatched = w->unwatched;
    lw_access_decide(&q, d);
}

/* The viewer whose own cases count (agents), for the listings. */
static const char *viewer(const struct lww_who *who)
{
    return who->roles & LW_ROLE_AGENT ? who->name : NULL;
}

const char *lww_listing_viewer(const struct lww_who *who)
{
    return viewer(who);
}

bool lww_listed_may_see(struct lww *w, const struct lww_who *who,
                        const struct lw_listing_row *row, int64_t *case_id,
                        const char **basis)
{
    struct lw_access_decision d;
    bool watched;

    decide_listed(w, who, row, &watched, case_id, &d);
    *basis = d.basis;
    return d.verdict == LW_ACCESS_GRANTED;
}

static void jw_time(struct lw_jw *jw, const char *key, int64_t ms)
{
    char t[LW_TIME_BUFLEN];

    lw_jw_key(jw, key);
    if (ms == 0)
        lw_jw_null(jw);
    else
        lw_jw_string(jw, lw_time_format(ms, t, sizeof(t)));
}

/* A fix as lww_fix_json writes it. */
static void jw_fix(struct lw_jw *jw, const struct lw_fix *f)
{
    lw_jw_object(jw);
    lw_jw_kreal(jw, "lat", f->lat_deg);
    lw_jw_kreal(jw, "lon", f->lon_deg);
    jw_time(jw, "fix_time", f->fix_time_ms);
    jw_time(jw, "received_time", f->recv_time_ms);
    lw_jw_kreal(jw, "accuracy_m", f->accuracy_m);
    lw_jw_kreal(jw, "speed_mps", f->speed_mps);
    lw_jw_kreal(jw, "course_deg", f->course_deg);
    lw_jw_object_end(jw);
}

static void jw_kstr_or_null(struct lw_jw *jw, const char *key, const char *s)
{
    lw_jw_key(jw, key);
    lw_jw_string_or_null(jw, s);
}

/* Starts an item; returns where its text starts. */
static size_t item_begin(struct list *l)
{
    size_t at = lw_jw_len(&l->jw) + (l->n > 0 ? 1 : 0); /* after the comma */

    lw_jw_object(&l->jw);
    return at;
}

/* Ends the item begun at off, with its distance. False: out of memory. */
static bool item_end(struct list *l, size_t off, double dist_m)
{
    lw_jw_object_end(&l->jw);
    if (l->here) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            struct list_item *v = realloc(l->items, cap * sizeof(*v));
            if (!v)
                return false;
            l->items = v;
            l->cap = cap;
        }
        l->items[l->n] = (struct list_item){off, lw_jw_len(&l->jw) - off,
                                            dist_m};
    }
    l->n++;
    return true;
}

static int by_item_distance(const void *a, const void *b)
{
    const struct list_item *x = a, *y = b;

    if (x->dist_m != y->dist_m)
        return x->dist_m < y->dist_m ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off; /* stable: list order */
}

/* Answers the list (sorted nearest first with a position). */
static enum MHD_Result list_reply(struct list *l)
{
    char *text;
    size_t len = 0;

    lw_jw_array_end(&l->jw);
    if (l->here && l->n) {
        const char *src = lw_jw_text(&l->jw);
        size_t size = 2;
        char *p;

        for (size_t i = 0; i < l->n; i++)
            size += l->items[i].len + 1;
        qsort(l->items, l->n, sizeof(*l->items), by_item_distance);
        p = malloc(size + 1);
        if (!p || l->jw.failed) {
            free(p);
            lw_jw_release(&l->jw);
            free(l->items);
            return lww_reply_error(l->r, 500, "out of memory");
        }
        p[len++] = '[';
        for (size_t i = 0; i < l->n; i++) {
            if (i)
                p[len++] = ',';
            memcpy(p + len, src + l->items[i].off, l->items[i].len);
            len += l->items[i].len;
        }
        p[len++] = ']';
        p[len] = '\0';
        lw_jw_release(&l->jw);
        free(l->items);
        l->items = NULL;
        return lww_reply_owned(l->r, 200, "application/json", p, len);
    }
    free(l->items);
    l->items = NULL;
    text = lw_jw_take(&l->jw, &len);
    if (!text)
        return lww_reply_error(l->r, 500, "out of memory");
    return lww_reply_owned(l->r, 200, "application/json", text, len);
}

static int case_row(void *ctx, const struct lw_listing_row *row)
{
    struct list *l = ctx;
    struct lw_jw *jw = &l->jw;
    struct lw_access_decision d;
    const struct lw_case *c = &row->c;
    int64_t case_id;
    bool watched, shown;
    double dist = INFINITY;
    size_t at;

    decide_listed(l->r->w, l->who, row, &watched, &case_id, &d);
    /* an agent's case whose account stopped being watched is not theirs
     * to see any more */
    if (d.verdict == LW_ACCESS_HIDDEN)
        return 0;
    shown = d.verdict == LW_ACCESS_GRANTED && row->has_fix;
    at = item_begin(l);
    lw_jw_kint(jw, "case_id", c->id);
    lw_jw_kstring(jw, "device", c->device);
    lw_jw_kstring(jw, "agent", c->agent);
    jw_kstr_or_null(jw, "plate", row->v.plate);
    jw_kstr_or_null(jw, "vin", row->v.vin);
    jw_kstr_or_null(jw, "description", row->v.description);
    jw_kstr_or_null(jw, "account", row->v.account);
    lw_jw_key(jw, "days_past_due");
    if (row->has_account)
        lw_jw_int(jw, row->a.days_past_due);
    else
        lw_jw_null(jw);
    jw_time(jw, "expires_at", c->expires_ms);
    lw_jw_kstring(jw, "reason", c->reason);
    lw_jw_kbool(jw, "watched", watched);
    lw_jw_key(jw, "fix");
    if (shown)
        jw_fix(jw, &row->fix);
    else
        lw_jw_null(jw);
    jw_time(jw, "last_heard", row->last_heard_ms);
    lw_jw_kint(jw, "open_alerts", row->open_alerts);
    if (l->here) {
        lw_jw_key(jw, "distance_m");
        if (shown) {
            dist = lw_geo_distance_m(l->lat, l->lon, row->fix.lat_deg,
                                     row->fix.lon_deg);
            lw_jw_real(jw, dist);
        } else {
            lw_jw_null(jw);
        }
    }
    if (!item_end(l, at, dist) ||
        (shown && !looks_add(&l->looks, c->device,
                             case_id ? case_id : c->id, d.basis))) {
        l->failed = true;
        return 1;
    }
    return 0;
}

/* lat/lon of the query into cl. False when it answered 400. */
static bool get_position(struct lww_req *r, double *lat, double *lon,
                         bool *here, bool required, enum MHD_Result *ret)
{
    char a[64], b[64], err[200];
    bool bad = false;
    const char *qa = lww_query(r, "lat", a, sizeof(a), &bad);
    const char *qb = lww_query(r, "lon", b, sizeof(b), &bad);

    *here = false;
    if (!qa && !qb && !required && !bad)
        return true;
    if (!qa || !qb) {
        *ret = lww_reply_error(r, 400, "lat and lon go together");
        return false;
    }
    if (lw_webreq_double("lat", a, -90, 90, lat, err, sizeof(err)) != LW_OK ||
        lw_webreq_double("lon", b, -180, 180, lon, err, sizeof(err)) !=
            LW_OK) {
        *ret = lww_reply_error(r, 400, "%s", err);
        return false;
    }
    *here = true;
    return true;
}

/* Ends a list: the looks recorded, then the answer; or 503 when the
 * listing failed or the looks could not be recorded (nothing shown). */
static enum MHD_Result list_finish(struct list *l, enum lw_err e,
                                   const char *action)
{
    struct lww *w = l->r->w;

    if (e != LW_OK || l->failed || l->jw.failed ||
        !looks_record(w, l->who, l->r->client, action, &l->looks,
                      l->r->now_ms)) {
        free(l->looks.v);
        free(l->items);
        lw_jw_release(&l->jw);
        return lww_reply_error(l->r, 503,
                               "database: %s (nothing shown: the looks "
                               "could not be recorded)",
                               lw_store_errmsg(w->store));
    }
    return list_reply(l);
}

static enum MHD_Result cases_get(struct lww_req *r, const struct lww_who *who)
{
    struct lww *w = r->w;
    struct list l = {.r = r, .who = who};
    struct lw_case_filter f = {.open_only = true, .now_ms = r->now_ms};
    enum MHD_Result ret;
    enum lw_err e;

    if (!(who->roles & (LW_ROLE_AGENT | LW_ROLE_OPS)))
        return lww_reply_error(r, 403, "admin sees no cases or locations");
    if (!get_position(r, &l.lat, &l.lon, &l.here, false, &ret))
        return ret;
    if (!(who->roles & LW_ROLE_OPS))
        f.agent = who->name;
    /* one snapshot for the reads, then one short write for the looks */
    if (lw_store_read_begin(w->store) != LW_OK)
        return lww_reply_error(r, 503, "database busy: %s",
                               lw_store_errmsg(w->store));
    lw_jw_array(&l.jw);
    e = lw_listing_cases(w->store, &f, viewer(who), case_row, &l);
    lw_store_rollback(w->store);
    return list_finish(&l, e, "web cases");
}

static enum MHD_Result cases_post(struct lww_req *r, const struct lww_who *who)
{
    struct lww *w = r->w;
    struct lw_case_req cr;
    struct lw_case_new cn;
    struct lw_audit_rec by;
    char err[300];
    int64_t id = 0;
    enum lw_err e;
    int st;

    if (!(who->roles & LW_ROLE_OPS))
        return lww_reply_error(r, 403, "only ops open cases");
    st = lw_webreq_case(r->body, r->len, &cr, err, sizeof(err));
    if (st)
        return lww_reply_error(r, (unsigned)st, "%s", err);
    audit_template(who, r->client, &by);
    by.role = "ops";
    cn.device = cr.device;
    cn.agent = cr.agent;
    cn.reason = cr.reason;
    cn.expires_ms = r->now_ms + cr.expires_in_ms;
    e = lw_case_open(w->store, &cn, w->cfg.watch_days_past_due, &by,
                     r->now_ms, &id);
    if (e == LW_ERR_INVAL || e == LW_ERR_NOTFOUND || e == LW_ERR_EXISTS)
        return lww_reply_error(r, e == LW_ERR_EXISTS ? 409 : 400, "%s",
                               lw_store_errmsg(w->store));
    if (e != LW_OK)
        return lww_reply_error(r, 503, "database: %s",
                               lw_store_errmsg(w->store));
    w->dirty = true;
    lwrt_log(LOG_INFO, "%s opened case %lld: %s for %s", who->name,
             (long long)id, cr.device, cr.agent);
    return lww_reply_json(r, 201, json_pack("{s:I}", "case_id",
                                            (json_int_t)id));
}

static enum MHD_Result case_close(struct lww_req *r, const struct lww_who *who,
                                  int64_t id)
{
    struct lww *w = r->w;
    struct lw_text_req tr;
    struct lw_audit_rec by;
    enum lw_case_outcome oc;
    char err[300];
    enum lw_err e;
    int st;

    if (!(who->roles & LW_ROLE_OPS))
        return lww_reply_error(r, 403, "only ops close cases");
    st = lw_webreq_close(r->body, r->len, &tr, err, sizeof(err));
    if (st)
        return lww_reply_error(r, (unsigned)st, "%s", err);
    if (lw_case_outcome_parse(tr.text, &oc) != LW_OK)
        return lww_reply_error(r, 400, "unknown outcome");
    audit_template(who, r->client, &by);
    by.role = "ops";
    e = lw_case_close(w->store, id, oc, NULL, &by, r->now_ms);
    if (e == LW_ERR_NOTFOUND)
        return lww_reply_error(r, 404, "no case %lld", (long long)id);
    if (e == LW_ERR_INVAL)
        return lww_reply_error(r, 409, "%s", lw_store_errmsg(w->store));
    if (e != LW_OK)
        return lww_reply_error(r, 503, "database: %s",
                               lw_store_errmsg(w->store));
    w->dirty = true;
    lwrt_log(LOG_INFO, "%s closed case %lld (%s)", who->name, (long long)id,
             tr.text);
    return lww_reply_json(r, 200, json_pack("{s:I, s:s}", "case_id",
                                            (json_int_t)id, "outcome",
                                            tr.text));
}

/* ---- GET /near, GET /watched --------------------------------------------- */

/* Adds a listed vehicle to a near or watched list when visible (and near,
 * with a position). */
static int near_row(void *ctx, const struct lw_listing_row *row)
{
    struct list *l = ctx;
    struct lw_jw *jw = &l->jw;
    struct lw_access_decision d;
    int64_t case_id;
    bool watched;
    double dist = INFINITY;
    size_t at;

    decide_listed(l->r->w, l->who, row, &watched, &case_id, &d);
    if (d.verdict != LW_ACCESS_GRANTED || !row->has_fix)
        return 0;
    if (l->here) {
        dist = lw_geo_distance_m(l->lat, l->lon, row->fix.lat_deg,
                                 row->fix.lon_deg);
        if (dist > l->radius_m)
            return 0;
    }
    at = item_begin(l);
    lw_jw_kstring(jw, "device", row->c.device);
    jw_kstr_or_null(jw, "plate", row->v.plate);
    jw_kstr_or_null(jw, "description", row->v.description);
    lw_jw_key(jw, "case_id");
    if (case_id)
        lw_jw_int(jw, case_id);
    else
        lw_jw_null(jw);
    lw_jw_key(jw, "fix");
    jw_fix(jw, &row->fix);
    lw_jw_kbool(jw, "watched", watched);
    lw_jw_kint(jw, "open_alerts", row->open_alerts);
    if (l->here)
        lw_jw_kreal(jw, "distance_m", dist);
    if (!item_end(l, at, dist) ||
        !looks_add(&l->looks, row->c.device, case_id, d.basis)) {
        l->failed = true;
        return 1;
    }
    return 0;
}

static enum MHD_Result near(struct lww_req *r, const struct lww_who *who,
                            bool watched_list)
{
    struct lww *w = r->w;
    struct list l = {.r = r, .who = who, .radius_m = NEAR_DEFAULT_M};
    char buf[64], err[200];
    bool bad = false;
    enum MHD_Result ret;
    enum lw_err e;

    if (!(who->roles & (LW_ROLE_AGENT | LW_ROLE_OPS)))
        return lww_reply_error(r, 403, "admin sees no locations");
    if (watched_list && !(who->roles & LW_ROLE_OPS))
        return lww_reply_error(r, 403, "only ops list watched vehicles");
    if (!get_position(r, &l.lat, &l.lon, &l.here, !watched_list, &ret))
        return ret;
    if (lww_query(r, "radius_m", buf, sizeof(buf), &bad) &&
        lw_webreq_double("radius_m", buf, 1, NEAR_MAX_M, &l.radius_m, err,
                         sizeof(err)) != LW_OK)
        return lww_reply_error(r, 400, "%s", err);
    if (bad)
        return lww_reply_error(r, 400, "radius_m: malformed");
    if (lw_store_read_begin(w->store) != LW_OK)
        return lww_reply_error(r, 503, "database busy");
    lw_jw_array(&l.jw);
    if (who->roles & LW_ROLE_OPS) {
        e = lw_listing_watched(w->store, w->cfg.watch_days_past_due,
                               viewer(who), r->now_ms, near_row, &l);
    } else {
        struct lw_case_filter f = {.agent = who->name, .open_only = true,
                                   .now_ms = r->now_ms};
        e = lw_listing_cases(w->store, &f, viewer(who), near_row, &l);
    }
    lw_store_rollback(w->store);
    return list_finish(&l, e, watched_list ? "web watched" : "web near");
}

/* ---- locate now, commands ------------------------------------------------ */

static json_t *command_json(const struct lw_cmd *c)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:o}",
                          "command_id", (json_int_t)c->id, "device",
                          c->device, "action", lw_cmd_action_name(c->action),
                          "state", lw_cmd_state_name(c->state), "created_at",
                          lww_time_json(c->created_ms), "sent_at",
                          lww_time_json(c->sent_ms), "answered_at",
                          lww_time_json(c->answered_ms), "answer_fix_time",
                          lww_time_json(c->answer_fix_ms));
    if (o && c->error[0])
        json_object_set_new(o, "error", json_string(c->error));
    return o;
}

static enum MHD_Result locate(struct lww_req *r, const struct lww_who *who,
                              const char *device)
{
    struct lww *w = r->w;
    char rbuf[LW_WEBREQ_TEXT_MAX + 1];
    const char *reason = get_reason(r, rbuf, sizeof(rbuf));
    struct lw_audit_rec by;
    struct look k;
    char cid[24];
    int64_t id = 0;
    enum MHD_Result ret;
    enum lw_err e;

    if (!reason)
        return lww_reply_error(r, 400, "reason: malformed or too long");
    if (!check_look(r, who, device, reason, &k, &ret))
        return ret;
    audit_template(who, r->client, &by);
    by.role = acting_role(who, k.d.basis);
    by.basis = k.d.basis;
    by.reason = reason[0] ? reason : NULL;
    if (k.case_id) {
        snprintf(cid, sizeof(cid), "%lld", (long long)k.case_id);
        by.case_id = cid;
    }
    e = lw_cmd_queue(w->store, device, LW_CMD_REPORT_NOW, &by, k.case_id,
                     r->now_ms, &id);
    if (e == LW_ERR_NOTFOUND)
        return lww_reply_error(r, 409,
                               "the device has never reported, so it cannot "
                               "be asked");
    if (e != LW_OK)
        return lww_reply_error(r, 503, "database: %s",
                               lw_store_errmsg(w->store));
    lwrt_log(LOG_INFO, "%s asked %s for a fix (command %lld)", who->name,
             device, (long long)id);
    return lww_reply_json(r, 202, json_pack("{s:I, s:s}", "command_id",
                                            (json_int_t)id, "state",
                                            "queued"));
}

static enum MHD_Result command(struct lww_req *r, const struct lww_who *who,
                               int64_t id)
{
    struct lww *w = r->w;
    struct lw_cmd c;
    enum lw_err e = lw_cmd_get(w->store, id, &c);

    if (e == LW_ERR_NOTFOUND)
        return lww_reply_error(r, 404, "no command %lld", (long long)id);
    if (e != LW_OK)
        return lww_reply_error(r, 503, "database: %s",
                               lw_store_errmsg(w->store));
    /* an agent follows their own commands only */
    if (!(who->roles & LW_ROLE_OPS) && strcmp(c.requested_by, who->name) != 0)
        return lww_reply_error(r, 404, "no command %lld", (long long)id);
    return lww_reply_json(r, 200, command_json(&c));
}

/* ---- alerts ---------------------------------------------------------------- */

/*
 * Who may see which device, remembered for one answer: an alert list
 * holds many alerts of few devices, and the access decision of each device
 * (three lookups) is made once. Open addressing, FNV-1a, grown at half
 * full.
 */
struct verdicts {
    struct verdict {
        char *device; /* owned; NULL: free slot */
        bool ok;      /* may see it */
    } *v;
    size_t n, cap; /* used, slots (a power of two) */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct verdict *verdict_slot(struct verdicts *vs, const char *device)
{
    size_t i = (size_t)fnv1a(device) & (vs->cap - 1);

    while (vs->v[i].device && strcmp(vs->v[i].device, device) != 0)
        i = (i + 1) & (vs->cap - 1);
    return &vs->v[i];
}

static bool verdicts_grow(struct verdicts *vs)
{
    struct verdicts bigger = {.cap = vs->cap ? vs->cap * 2 : 64};

    bigger.v = calloc(bigger.cap, sizeof(*bigger.v));
    if (!bigger.v)
        return false;
    for (size_t i = 0; i < vs->cap; i++)
        if (vs->v[i].device)
            *verdict_slot(&bigger, vs->v[i].device) = vs->v[i];
    bigger.n = vs->n;
    free(vs->v);
    *vs = bigger;
    return true;
}

static void verdicts_free(struct verdicts *vs)
{
    for (size_t i = 0; i < vs->cap; i++)
        free(vs->v[i].device);
    free(vs->v);
    memset(vs, 0, sizeof(*vs));
}

/* lww_may_see, remembered per device. False also when out of memory. */
static bool may_see_cached(struct lww *w, const struct lww_who *who,
                           struct verdicts *vs, const char *device,
                           int64_t now_ms)
{
    struct verdict *slot;
    int64_t case_id;
    const char *basis;

    if ((vs->n + 1) * 2 > vs->cap && !verdicts_grow(vs))
        return false;
    slot = verdict_slot(vs, device);
    if (slot->device)
        return slot->ok;
    slot->device = strdup(device);
    if (!slot->device)
        return false;
    slot->ok = lww_may_see(w, who, device, now_ms, &case_id, &basis);
    vs->n++;
    return slot->ok;
}

struct alert_list {
    struct lww_req *r;
    const struct lww_who *who;
    struct lw_jw jw;      /* the answer, written as it goes */
    struct verdicts seen; /* the decision per device */
    bool failed;          /* out of memory */
};

static int alert_cb(void *ctx, const struct lw_alert_row *a)
{
    struct alert_list *al = ctx;
    struct lw_jw *jw = &al->jw;

    if (!may_see_cached(al->r->w, al->who, &al->seen, a->a.device,
                        al->r->now_ms))
        return 0;
    lw_jw_object(jw);
    lw_jw_kint(jw, "id", a->id);
    lw_jw_kstring(jw, "kind", lw_alert_kind_name(a->a.kind));
    lw_jw_kstring(jw, "device", a->a.device);
    lw_jw_kstring(jw, "state", lw_alert_state_name(a->state));
    jw_time(jw, "raised_at", a->a.raised_ms);
    jw_kstr_or_null(jw, "geofence", a->a.fence);
    lw_jw_kbool(jw, "late", a->a.late);
    jw_kstr_or_null(jw, "ack_by", a->ack_by);
    jw_kstr_or_null(jw, "ack_note", a->ack_note);
    lw_jw_object_end(jw);
    if (jw->failed) {
        al->failed = true;
        return 1;
    }
    return 0;
}

static enum MHD_Result alerts(struct lww_req *r, const struct lww_who *who)
{
    struct alert_list al = {.r = r, .who = who};
    struct lw_alert_filter f = {0};
    char buf[16], *text;
    size_t len = 0;
    bool bad = false;
    enum lw_err e;

    if (!(who->roles & (LW_ROLE_AGENT | LW_ROLE_OPS)))
        return lww_reply_error(r, 403, "admin sees no alerts");
    if (lww_query(r, "open", buf, sizeof(buf), &bad))
        f.open_only = strcmp(buf, "0") != 0;
    lw_jw_array(&al.jw);
    /* one snapshot for the alerts and the decisions */
    e = lw_store_read_begin(r->w->store);
    if (e == LW_OK) {
        e = lw_registry_alerts(r->w->store, &f, alert_cb, &al);
        lw_store_rollback(r->w->store);
    }
    verdicts_free(&al.seen);
    lw_jw_array_end(&al.jw);
    if (e != LW_OK) {
        lw_jw_release(&al.jw);
        return lww_reply_error(r, 503, "database: %s",
                               lw_store_errmsg(r->w->store));
    }
    text = lw_jw_take(&al.jw, &len);
    if (!text || al.failed) {
        free(text);
        return lww_reply_error(r, 500, "out of memory");
    }
    return lww_reply_owned(r, 200, "application/json", text, len);
}

static enum MHD_Result alert_ack(struct lww_req *r, const struct lww_who *who,
                                 int64_t id)
{
    struct lww *w = r->w;
    struct lw_text_req tr;
    struct lw_alert_row a;
    char err[300];
    enum lw_err e;
    int st;

    if (!(who->roles & LW_ROLE_OPS))
        return lww_reply_error(r, 403, "only ops acknowledge alerts");
    st = lw_webreq_ack(r->body, r->len, &tr, err, sizeof(err));
    if (st)
        return lww_reply_error(r, (unsigned)st, "%s", err);
    e = lw_registry_alert_get(w->store, id, &a);
    if (e == LW_ERR_NOTFOUND)
        return lww_reply_error(r, 404, "no alert %lld", (long long)id);
    if (e == LW_OK)
        e = lw_registry_alert_ack(w->store, id, who->name, tr.text,
                                  r->now_ms);
    if (e == LW_ERR_INVAL)
        return lww_reply_error(r, 409, "%s", lw_store_errmsg(w->store));
    if (e != LW_OK)
        return lww_reply_error(r, 503, "database: %s",
                               lw_store_errmsg(w->store));
    w->dirty = true;
    lwrt_log(LOG_INFO, "%s acknowledged alert %lld", who->name,
             (long long)id);
    return lww_reply_json(r, 200, json_pack("{s:I, s:s}", "id",
                                            (json_int_t)id, "state",
                                            "acknowledged"));
}

/* ---- dispatch ---------------------------------------------------------- */

enum MHD_Result lww_api(struct lww_req *r, const char *url)
{
    struct lw_route rt;
    struct lww_who who;
    char err[300];
    enum MHD_Result ret;
    int st = lw_webreq_route(r->method, url, &rt, err, sizeof(err));

    if (st == 405) {
        struct MHD_Response *resp;
        char body[400];
        snprintf(body, sizeof(body), "{\"error\":\"%s\"}", err);
        resp = MHD_create_response_from_buffer(strlen(body), body,
                                               MHD_RESPMEM_MUST_COPY);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "Allow", lw_webreq_allow(rt.kind));
        lww_security_headers(r->w, resp);
        ret = MHD_queue_response(r->conn, 405, resp);
        MHD_destroy_response(resp);
        r->answered = true;
        return ret;
    }
    if (st)
        return lww_reply_error(r, (unsigned)st, "%s", err);
    if (rt.kind == LW_RT_SESSION)
        return session(r);
    if (!authenticate(r, &who, &ret))
        return ret;
    switch (rt.kind) {
    case LW_RT_CASES:
        return strcmp(r->method, "POST") == 0 ? cases_post(r, &who)
                                              : cases_get(r, &who);
    case LW_RT_CASE_CLOSE:
        return case_close(r, &who, rt.id);
    case LW_RT_VEHICLE:
        return vehicle(r, &who, rt.device);
    case LW_RT_HISTORY:
        return history(r, &who, rt.device);
    case LW_RT_LOCATE:
        return locate(r, &who, rt.device);
    case LW_RT_PLACES:
        return places(r, &who, rt.device);
    case LW_RT_NEAR:
        return near(r, &who, false);
    case LW_RT_WATCHED:
        return near(r, &who, true);
    case LW_RT_COMMAND:
        return command(r, &who, rt.id);
    case LW_RT_EVENTS:
        return lww_sse_open(r, &who);
    case LW_RT_ALERTS:
        return alerts(r, &who);
    case LW_RT_ALERT_ACK:
        return alert_ack(r, &who, rt.id);
    default:
        return lww_reply_error(r, 404, "no such resource");
    }
}
