/*
 * access.h - who may see a borrower's location, and on what basis.
 *
 * A tracked car belongs to a person who, most of the time, pays on time:
 * their location is nobody's business without a recorded reason. Once the
 * account is overdue (watched: at or over watch_days_past_due days past due,
 * and not paid off or closed) operations may see it, and a field agent may
 * see it while a case hands that vehicle to them. This module is the one
 * place that decides; the CLI, the web service and any other reader ask it
 * before they show a position, record the basis it returns in the audit
 * trail (audit.h), and show nothing when the audit record cannot be written.
 *
 * The rules:
 *   - agent: a vehicle of one of their open, unexpired cases whose account
 *     is watched, basis "case"; anything else is HIDDEN (the web answers 404:
 *     an agent does not learn that the device exists);
 *   - ops (and the CLI, which runs on the database host with the database's
 *     file permissions, acts as ops): a watched vehicle, basis "watched";
 *     an unwatched one as the unwatched policy says: "reason" (the default)
 *     with a stated reason, basis "override", else NEED_REASON; "deny":
 *     DENIED, reason or not; "allow": basis "unwatched_allowed";
 *   - admin alone manages users and tokens and sees no locations: DENIED;
 *   - several roles: the widest grant wins (ops before agent).
 * A stated reason is recorded whatever the basis.
 *
 * Pure: no database, no clock, no globals. Strings returned are static.
 */
#ifndef LIENWATCH_ACCESS_H
#define LIENWATCH_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "lienwatch/err.h"

/*
 * Keys of the database's meta table (store.h, lw_store_meta_get) under which
 * lienwatchd records, at start and on SIGHUP, the settings every other
 * reader applies as it does: [alerts] watch_days_past_due (decimal text)
 * and [privacy] unwatched_access ("reason", "deny" or "allow"). A reader
 * takes them from there first, then from lienwatchd's configuration file,
 * then the defaults.
 */
#define LW_META_WATCH_DAYS "daemon.watch_days_past_due"
#define LW_META_UNWATCHED_ACCESS "daemon.unwatched_access"

/* Roles, as bits: a user or token may hold several. */
enum lw_role {
    LW_ROLE_AGENT = 1 << 0, /* field recovery agent: their cases only */
    LW_ROLE_OPS = 1 << 1,   /* operations: every watched vehicle */
    LW_ROLE_ADMIN = 1 << 2, /* users and tokens; no locations */
};
#define LW_ROLE_ALL (LW_ROLE_AGENT | LW_ROLE_OPS | LW_ROLE_ADMIN)

/* [privacy] unwatched_access: what a look at an unwatched vehicle needs. */
enum lw_unwatched_policy {
    LW_UNWATCHED_REASON = 0, /* a stated reason, recorded as an override */
    LW_UNWATCHED_DENY,       /* nobody, whatever the reason */
    LW_UNWATCHED_ALLOW,      /* anyone who may see watched ones (recorded) */
};

/* What is asked. */
struct lw_access_req {
    unsigned roles;     /* enum lw_role bits of the caller */
    bool watched;       /* the vehicle's account is watched now */
    bool case_open;     /* agents: an open, unexpired case of the caller for
                           this vehicle */
    const char *reason; /* stated reason; NULL or "" when none */
    enum lw_unwatched_policy unwatched; /* the configured policy */
};

/* The answer. */
enum lw_access_verdict {
    LW_ACCESS_GRANTED = 0, /* show it; record basis */
    LW_ACCESS_NEED_REASON, /* unwatched and no reason given (CLI exit 4,
                              HTTP 403 saying a reason is needed) */
    LW_ACCESS_DENIED,      /* not for this caller (CLI exit 4, HTTP 403) */
    LW_ACCESS_HIDDEN,      /* an agent outside their cases: HTTP 404 */
};

struct lw_access_decision {
    enum lw_access_verdict verdict; /* see above */
    const char *basis; /* when granted: "watched", "case", "override",
                          "unwatched_allowed" (for the audit record's
                          basis); NULL otherwise */
    const char *why;   /* one English sentence for the person refused, or
                          for the log when granted */
};

/* Decides r (borrowed) into *out. Never fails; a NULL r or out does
 * nothing. */
void lw_access_decide(const struct lw_access_req *r,
                      struct lw_access_decision *out);

/*
 * Whether an account is watched: days_past_due at or over threshold_days,
 * and a status that is not "paid_off" or "closed" (status may be NULL or ""
 * for none). A threshold below 1 is taken as 1: an account that is not late
 * is never watched.
 */
bool lw_access_account_watched(int days_past_due, const char *status,
                               int threshold_days);

/* Whether status (may be NULL) ends the loan: "paid_off" or "closed". Its
 * vehicles are never watched again, and their positions are purged after
 * [privacy] purge_after_payoff. */
bool lw_access_account_ended(const char *status);

/* Parses "reason", "deny" or "allow". Returns LW_OK or LW_ERR_INVAL. */
enum lw_err lw_access_policy_parse(const char *s,
                                   enum lw_unwatched_policy *out);
/* The policy's name; "?" for a value out of range. */
const char *lw_access_policy_name(enum lw_unwatched_policy p);

/*
 * Parses a comma-separated role list ("agent", "ops,admin"; blanks around
 * names ignored) into bits. Returns LW_OK, or LW_ERR_INVAL for an empty list
 * or an unknown name.
 */
enum lw_err lw_access_roles_parse(const char *s, unsigned *out);
/* Writes the roles as "agent,ops" into buf (always terminated; "" for
 * none). Returns buf. */
char *lw_access_roles_format(unsigned roles, char *buf, size_t len);

#endif
