/*
 * access.c - who may see a borrower's location (see access.h).
 */
#include <string.h>

#include "lienwatch/access.h"

static const char *const policy_names[] = {
    [LW_UNWATCHED_REASON] = "reason",
    [LW_UNWATCHED_DENY] = "deny",
    [LW_UNWATCHED_ALLOW] = "allow",
};
#define NPOLICIES (sizeof(policy_names) / sizeof(policy_names[0]))

static const struct {
    const char *name;
    enum lw_role bit;
} role_names[] = {
    {"agent", LW_ROLE_AGENT},
    {"ops", LW_ROLE_OPS},
    {"admin", LW_ROLE_ADMIN},
};
#define NROLES (sizeof(role_names) / sizeof(role_names[0]))

static void grant(struct lw_access_decision *out, const char *basis,
                  const char *why)
{
    out->verdict = LW_ACCESS_GRANTED;
    out->basis = basis;
    out->why = why;
}

static void refuse(struct lw_access_decision *out,
                   enum lw_access_verdict verdict, const char *why)
{
    out->verdict = verdict;
    out->basis = NULL;
    out->why = why;
}

/* The rules for a caller who sees every watched vehicle (ops, the CLI). */
static void decide_ops(const struct lw_access_req *r,
                       struct lw_access_decision *out)
{
    bool reason = r->reason && r->reason[0];

    if (r->watched) {
        grant(out, "watched",
              "the account is overdue: the vehicle is "
              "watched");
        return;
    }
    switch (r->unwatched) {
    case LW_UNWATCHED_ALLOW:
        grant(out, "unwatched_allowed",
              "the vehicle is not watched; [privacy] unwatched_access = "
              "allow lets it be seen (recorded)");
        return;
    case LW_UNWATCHED_DENY:
        refuse(out, LW_ACCESS_DENIED,
               "the vehicle is not watched (its account is not overdue) "
               "and [privacy] unwatched_access = deny: its location is not "
               "shown, whatever the reason");
        return;
    case LW_UNWATCHED_REASON:
    default:
        if (reason)
            grant(out, "override",
                  "the vehicle is not watched; shown for the stated "
                  "reason, recorded as an override");
        else
            refuse(out, LW_ACCESS_NEED_REASON,
                   "the vehicle is not watched (its account is not "
                   "overdue): its location is shown only with a stated "
                   "reason, which is recorded");
        return;
    }
}

void lw_access_decide(const struct lw_access_req *r,
                      struct lw_access_decision *out)
{
    if (!r || !out)
        return;
    /* ops see whatever an agent could (a case needs a watched vehicle,
     * which ops see anyway), so their rules decide when they hold both */
    if (r->roles & LW_ROLE_OPS) {
        decide_ops(r, out);
        return;
    }
    if (r->roles & LW_ROLE_AGENT) {
        if (r->case_open && r->watched)
            grant(out, "case",
                  "a case of yours hands this vehicle to you "
                  "and its account is overdue");
        else
            refuse(out, LW_ACCESS_HIDDEN,
                   "no open case of yours for this vehicle while its "
                   "account is overdue");
        return;
    }
    refuse(out, LW_ACCESS_DENIED,
           r->roles & LW_ROLE_ADMIN
               ? "administrators manage users and tokens and see no "
                 "locations; an agent or ops role is needed"
               : "no role that may see locations");
}

bool lw_access_account_ended(const char *status)
{
    return status &&
           (strcmp(status, "paid_off") == 0 || strcmp(status, "closed") == 0);
}

bool lw_access_account_watched(int days_past_due, const char *status,
                               int threshold_days)
{
    if (threshold_days < 1)
        threshold_days = 1;
    if (lw_access_account_ended(status))
        return false;
    return days_past_due >= threshold_days;
}

enum lw_err lw_access_policy_parse(const char *s, enum lw_unwatched_policy *out)
{
    if (!s || !out)
        return LW_ERR_INVAL;
    for (size_t i = 0; i < NPOLICIES; i++) {
        if (strcmp(s, policy_names[i]) == 0) {
            *out = (enum lw_unwatched_policy)i;
            return LW_OK;
        }
    }
    return LW_ERR_INVAL;
}

const char *lw_access_policy_name(enum lw_unwatched_policy p)
{
    return (size_t)p < NPOLICIES ? policy_names[p] : "?";
}

/* Whether [b, e) is name. */
static bool word_is(const char *b, const char *e, const char *name)
{
    size_t n = strlen(name);

    return (size_t)(e - b) == n && memcmp(b, name, n) == 0;
}

enum lw_err lw_access_roles_parse(const char *s, unsigned *out)
{
    unsigned bits = 0;

    if (!s || !out)
        return LW_ERR_INVAL;
    for (;;) {
        const char *b = s, *e, *end;
        size_t i;

        while (*b == ' ' || *b == '\t')
            b++;
        end = b;
        while (*end && *end != ',')
            end++;
        e = end;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == b)
            return LW_ERR_INVAL; /* an empty name: "", "ops,,agent", "ops," */
        for (i = 0; i < NROLES && !word_is(b, e, role_names[i].name); i++)
            ;
        if (i == NROLES)
            return LW_ERR_INVAL;
        bits |= (unsigned)role_names[i].bit;
        if (!*end)
            break;
        s = end + 1;
    }
    *out = bits;
    return LW_OK;
}

char *lw_access_roles_format(unsigned roles, char *buf, size_t len)
{
    size_t used = 0;

    if (!buf || !len)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < NROLES; i++) {
        size_t n = strlen(role_names[i].name);

        if (!(roles & (unsigned)role_names[i].bit))
            continue;
        if (used + (used ? 1 : 0) + n + 1 > len)
            break; /* truncated at a whole name */
        if (used)
            buf[used++] = ',';
        memcpy(buf + used, role_names[i].name, n + 1);
        used += n;
    }
    return buf;
}
