/*
 * cases.h - cases: one vehicle handed to one field agent, for a limited
 * time, for a stated reason. A case is what lets an agent see a position
 * (access.h: the case_open input of lw_access_decide comes from
 * lw_case_active).
 *
 * Life of a case: opened (by ops, the CLI) for a registered vehicle
 * (device) whose account is watched, for an agent (a user, or a token,
 * holding LW_ROLE_AGENT and not disabled or revoked), until expires_ms;
 * it ends at the first of:
 *   - its expiry (it is no longer open from expires_ms on, whether or not
 *     lw_case_sweep has recorded it yet: outcome "expired");
 *   - lw_case_close with outcome "recovered" or "cancelled";
 *   - the account no longer being watched (paid up, closed, or the vehicle
 *     removed): lw_case_sweep closes it with outcome "unwatched". Between
 *     the change and the sweep lw_access_decide already refuses (it is told
 *     whether the account is watched), so access ends at once either way.
 * An ended case never reopens; a new case is opened instead. At most one
 * open case per agent and device.
 *
 * Audit. Opening, closing and the sweep's endings each append one audit
 * record (audit.h) in the same transaction: action "case open" (device,
 * case_id, reason, detail "agent=NAME expires=ISO-8601"), "case close"
 * (device, case_id, detail "outcome=recovered", reason = the note when
 * given), "case end" (the sweep: detail "outcome=expired" or
 * "outcome=unwatched"). The caller says who acts with "by", an audit
 * record used as a template: its who (required), role, via, as_name,
 * os_detail and client are recorded; this module sets the rest.
 *
 * Errors: LW_OK, or LW_ERR_INVAL for a NULL handle or required argument, a
 * read-only handle for a write, or input breaking a rule (lw_store_errmsg
 * says which: "account A-1 of car/1 is not watched (2 days past due,
 * threshold 30)", "alice does not hold the agent role"); LW_ERR_NOTFOUND
 * for an unknown case id, vehicle or agent;
 * LW_ERR_EXISTS for a second open case of one agent for one device; or a
 * database error of store.h. Writes run in the caller's write transaction
 * when one is open, else in one of their own.
 *
 * Strings passed in are borrowed; structs handed to callbacks are valid
 * during the call only. Times are UTC ms since the epoch, from the caller.
 */
#ifndef LIENWATCH_CASES_H
#define LIENWATCH_CASES_H

#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/audit.h"
#include "lienwatch/err.h"
#include "lienwatch/fix.h"
#include "lienwatch/store.h"
#include "lienwatch/users.h"

/* Longest reason or closing note, in bytes, without the NUL. */
#define LW_CASE_REASON_MAX 512
/* Longest a case may run: 90 days, in ms. */
#define LW_CASE_EXPIRY_MAX_MS (90LL * 24 * 3600 * 1000)

/* How a case stands (or ended). */
enum lw_case_outcome {
    LW_CASE_OPEN = 0,  /* open (see lw_case_is_open for expiry) */
    LW_CASE_RECOVERED, /* closed: the vehicle was recovered */
    LW_CASE_CANCELLED, /* closed: called off */
    LW_CASE_EXPIRED,   /* ended at its expiry (recorded by the sweep) */
    LW_CASE_UNWATCHED, /* ended: the account stopped being watched */
};

/* One case, as read. */
struct lw_case {
    int64_t id;                           /* case id, increasing from 1 */
    char device[LW_DEVICE_MAX + 1];       /* the vehicle's device */
    char agent[LW_USER_NAME_MAX + 1];     /* the agent it is handed to */
    char reason[LW_CASE_REASON_MAX + 1];  /* why it was opened */
    char opened_by[LW_USER_NAME_MAX + 1]; /* who opened it (by->who,
                                             truncated) */
    int64_t opened_ms;                    /* when */
    int64_t expires_ms;                   /* open until (exclusive) */
    enum lw_case_outcome outcome;         /* LW_CASE_OPEN until it ends */
    int64_t closed_ms;                    /* when it ended; 0 while open
                                             (also when expired but not
                                             yet swept) */
    char closed_by[LW_USER_NAME_MAX + 1]; /* who closed it; "" while open */
    char note[LW_CASE_REASON_MAX + 1];    /* the closing note; "" */
};

/* What is asked of lw_case_open. */
struct lw_case_new {
    const char *device; /* a registered vehicle's device */
    const char *agent;  /* a user or token holding the agent role */
    const char *reason; /* why (not empty; at most LW_CASE_REASON_MAX) */
    int64_t expires_ms; /* after now_ms, at most LW_CASE_EXPIRY_MAX_MS
                           after it */
};

/* True when c is open at now_ms: not ended and now_ms < expires_ms. */
bool lw_case_is_open(const struct lw_case *c, int64_t now_ms);

/* "open", "recovered", "cancelled", "expired", "unwatched"; "?" out of
 * range. Static. */
const char *lw_case_outcome_name(enum lw_case_outcome o);

/* Parses one of those names into *out. Returns LW_OK or LW_ERR_INVAL. */
enum lw_err lw_case_outcome_parse(const char *s, enum lw_case_outcome *out);

/*
 * Opens case c at now_ms. The vehicle's account must be watched as
 * lw_access_account_watched says with watch_threshold_days (the
 * [watch] days_past_due of the configuration). *id (may be NULL) gets the
 * new case's id. Returns LW_OK; LW_ERR_INVAL (account not watched, agent
 * without the agent role or disabled, empty or too long reason, expiry out
 * of range); LW_ERR_NOTFOUND (no vehicle registered for device, or no user
 * or valid token of that name); LW_ERR_EXISTS (that agent has an open case for
 * that device: its id is in lw_store_errmsg); or a database error.
 */
enum lw_err lw_case_open(struct lw_store *s, const struct lw_case_new *c,
                         int watch_threshold_days,
                         const struct lw_audit_rec *by, int64_t now_ms,
                         int64_t *id);

/*
 * Closes case id with outcome LW_CASE_RECOVERED or LW_CASE_CANCELLED and an
 * optional note (NULL or "": none). A case that expired but was not swept
 * yet can still be closed (its outcome is then the one given). Returns
 * LW_OK; LW_ERR_NOTFOUND; LW_ERR_INVAL (another outcome, a note too long,
 * or the case already ended: lw_store_errmsg says how); or a database
 * error.
 */
enum lw_err lw_case_close(struct lw_store *s, int64_t id,
                          enum lw_case_outcome outcome, const char *note,
                          const struct lw_audit_rec *by, int64_t now_ms);

/* Reads case id into *out. Returns LW_OK, LW_ERR_NOTFOUND, LW_ERR_INVAL
 * or a database error. Works on read-only handles. */
enum lw_err lw_case_get(struct lw_store *s, int64_t id, struct lw_case *out);

/*
 * The open case (lowest id) of agent for device at now_ms into *case_id:
 * what lw_access_decide's case_open is. Returns LW_OK when there is one;
 * LW_ERR_NOTFOUND when none (*case_id 0); LW_ERR_INVAL; or a database
 * error. Does not look at the account (the caller passes watched to
 * lw_access_decide). One index lookup; works on read-only handles.
 */
enum lw_err lw_case_active(struct lw_store *s, const char *agent,
                           const char *device, int64_t now_ms,
                           int64_t *case_id);

/* What lw_case_list selects; zero/NULL fields select all. */
struct lw_case_filter {
    const char *agent;  /* one agent's cases */
    const char *device; /* one device's cases */
    bool open_only;     /* only cases open at now_ms */
    int64_t now_ms;     /* the time open_only is judged at */
};

/* Called per case; return 0 to go on, non-zero to stop (not an error). */
typedef int (*lw_case_cb)(void *ctx, const struct lw_case *c);

/* Calls cb for each case f selects (NULL: all), by id. Returns LW_OK
 * (also when cb stopped), LW_ERR_INVAL or a database error. Works on
 * read-only handles. */
enum lw_err lw_case_list(struct lw_store *s, const struct lw_case_filter *f,
                         lw_case_cb cb, void *ctx);

/*
 * Records the ends that come by themselves: each case not ended whose
 * expiry is at or before now_ms gets outcome "expired" (closed_ms its
 * expiry), each open case whose vehicle's account is not watched (as
 * lw_access_account_watched says with watch_threshold_days; a removed
 * vehicle or account is not watched) gets "unwatched" (closed_ms now_ms);
 * each with an audit record "case end" as by (the daemon: who
 * "lienwatchd"). *ended (may be NULL) gets how many ended. Cheap when
 * nothing ends (one query on the open cases). Returns LW_OK or a database
 * error (nothing recorded).
 */
enum lw_err lw_case_sweep(struct lw_store *s, int watch_threshold_days,
                          const struct lw_audit_rec *by, int64_t now_ms,
                          int64_t *ended);

#endif
