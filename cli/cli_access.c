/*
 * cli_access.c - who may see a position through the lienwatch command: the
 * settings that decide it (recorded by lienwatchd in the database, else its
 * configuration file, else the defaults), the decision (the core's
 * lw_access_decide, the command acting as operations staff), and the audit
 * record that must be written before anything is shown.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lienwatch/access.h"
#include "lienwatch/config.h"

/* Room for lw_store_open's and the audit's detail sentences. */
#define ERRBUF 512
/* Room for the audit detail of a decision. */
#define DETAIL_MAX CLI_RULE_NOTE_LEN

/* The settings as lienwatchd runs without a file. */
static void rule_defaults(struct cli_watch_rule *r, const struct lw_config *cfg)
{
    r->days = cfg->watch_days_past_due;
    if (lw_access_policy_parse(cfg->privacy_unwatched_access, &r->policy) !=
        LW_OK)
        r->policy = LW_UNWATCHED_REASON;
}

/* The two settings from a loaded configuration; from names it. */
static void rule_from_config(struct cli_watch_rule *r,
                             const struct lw_config *cfg, const char *file)
{
    rule_defaults(r, cfg);
    snprintf(r->from, sizeof(r->from), "%s", file);
}

/*
 * What lienwatchd recorded in s (access.h, LW_META_*): true when both
 * settings were there and valid, filling r.
 */
static bool rule_from_db(struct cli_watch_rule *r, struct lw_store *s)
{
    char *days = NULL, *policy = NULL, *end = NULL;
    enum lw_unwatched_policy p;
    bool ok = false;
    long v;

    if (!s || lw_store_meta_get(s, LW_META_WATCH_DAYS, &days) != LW_OK ||
        lw_store_meta_get(s, LW_META_UNWATCHED_ACCESS, &policy) != LW_OK)
        goto out;
    errno = 0;
    v = strtol(days, &end, 10);
    if (errno || end == days || *end || v < 0 || v > INT32_MAX ||
        lw_access_policy_parse(policy, &p) != LW_OK)
        goto out;
    r->days = (int)v;
    r->policy = p;
    snprintf(r->from, sizeof(r->from), "%s", CLI_RULE_FROM_DB);
    ok = true;
out:
    free(days);
    free(policy);
    return ok;
}

int cli_watch_rule_load(const char *cmd, struct lw_store *s, const char *config,
                        struct cli_watch_rule *r)
{
    struct lw_config *cfg = malloc(sizeof(*cfg));
    char err[CLI_RULE_NOTE_LEN] = "";
    enum lw_err e;
    int rc = CLI_CONTINUE;

    if (!cfg)
        return cli_error(cmd, CLI_EXIT_FAIL, "out of memory");
    memset(r, 0, sizeof(*r));
    lw_config_defaults(cfg);
    rule_defaults(r, cfg);
    if (config) {
        /* named by the person: must be usable */
        e = lw_config_load(cfg, config, err, sizeof(err));
        if (e == LW_OK)
            rule_from_config(r, cfg, config);
        else
            rc = cli_error(cmd, CLI_EXIT_FAIL, "%s",
                           err[0] ? err : lw_strerror(e));
        goto out;
    }
    if (rule_from_db(r, s))
        goto out;
    if (access(CLI_DAEMON_CONF, F_OK) != 0 && errno == ENOENT)
        goto out; /* no file: lienwatchd runs on its defaults too */
    e = lw_config_load(cfg, CLI_DAEMON_CONF, err, sizeof(err));
    if (e == LW_OK)
        rule_from_config(r, cfg, CLI_DAEMON_CONF);
    else
        snprintf(r->note, sizeof(r->note), "%s",
                 err[0] ? err : CLI_DAEMON_CONF);
out:
    free(cfg);
    return rc;
}

int cli_access_record(struct cli *c, const char *cmd,
                      const struct lw_audit_rec *r, struct lw_audit_head *head)
{
    char why[ERRBUF] = "";

    if (cli_audit_write(c, r, head, why, sizeof(why)) == LW_OK)
        return CLI_CONTINUE;
    return cli_error(cmd, CLI_EXIT_FAIL,
                     "this lookup could not be recorded in the audit trail, "
                     "so it is not answered: %s",
                     why);
}

/* "day" or "days". */
static const char *days_word(int n)
{
    return n == 1 ? "day" : "days";
}

/* What made x watched or not, for the audit record and messages. */
static void state_words(const struct lw_vehicle_match *m,
                        const struct cli_access *x, char *buf, size_t len)
{
    if (!m->registered)
        snprintf(buf, len, "not registered");
    else if (!m->v.account[0])
        snprintf(buf, len, "no account");
    else if (!x->has_account)
        snprintf(buf, len, "account %s not known yet", m->v.account);
    else
        snprintf(buf, len, "account %s %d %s past due%s%s", m->v.account,
                 x->a.days_past_due, days_word(x->a.days_past_due),
                 x->a.status[0] ? ", " : "", x->a.status);
}

int cli_access_check(struct cli *c, const char *cmd, struct lw_store *s,
                     const struct lw_vehicle_match *m, const char *reason,
                     const char *config, struct cli_access *x)
{
    struct lw_access_req req = {0};
    struct lw_access_decision d;
    struct lw_audit_rec r;
    char state[DETAIL_MAX / 4], detail[2 * DETAIL_MAX];
    enum lw_err e;
    int rc;

    memset(x, 0, sizeof(*x));
    rc = cli_watch_rule_load(cmd, s, config, &x->rule);
    if (rc != CLI_CONTINUE)
        return rc;
    if (m->registered && m->v.account[0]) {
        e = lw_registry_account_get(s, m->v.account, &x->a);
        if (e != LW_OK && e != LW_ERR_NOTFOUND)
            return cli_db_error(cmd, s, e);
        x->has_account = e == LW_OK;
    }
    x->watched =
        x->has_account && lw_access_account_watched(x->a.days_past_due,
                                                    x->a.status, x->rule.days);
    req.roles = LW_ROLE_OPS;
    req.watched = x->watched;
    req.reason = reason;
    req.unwatched = x->rule.policy;
    lw_access_decide(&req, &d);
    state_words(m, x, state, sizeof(state));
    snprintf(detail, sizeof(detail),
             "%s; watched from %d %s past due; unwatched_access %s (%s)", state,
             x->rule.days, days_word(x->rule.days),
             lw_access_policy_name(x->rule.policy),
             x->rule.from[0] ? x->rule.from : "default");
    snprintf(x->detail, sizeof(x->detail), "%.*s", (int)sizeof(x->detail) - 1,
             detail);
    if (d.verdict == LW_ACCESS_GRANTED) {
        x->basis = d.basis;
        return CLI_CONTINUE;
    }
    /* the attempt is on the record too; refused whether or not it could be
     * written */
    cli_audit_rec(c, &r, cmd, m->v.device);
    r.reason = reason;
    r.basis = CLI_BASIS_REFUSED;
    r.detail = detail;
    cli_audit_write(c, &r, NULL, NULL, 0);
    if (d.verdict == LW_ACCESS_NEED_REASON)
        return cli_error(cmd, CLI_EXIT_DENIED,
                         "%s is not watched (%s; lienwatchd watches from %d "
                         "%s past due): its position is shown only with "
                         "--reason TEXT saying why you need it, which is "
                         "recorded in the audit trail as an override",
                         m->v.device, state, x->rule.days,
                         days_word(x->rule.days));
    return cli_error(cmd, CLI_EXIT_DENIED,
                     "%s is not watched (%s; lienwatchd watches from %d %s "
                     "past due), and [privacy] unwatched_access is 'deny' "
                     "(%s): the position of a vehicle that is not watched "
                     "is not shown, reason or not",
                     m->v.device, state, x->rule.days, days_word(x->rule.days),
                     x->rule.from[0] ? x->rule.from : "default");
}

int cli_access_lookup(struct cli *c, const char *cmd, struct lw_store *s,
                      const struct lw_vehicle_match *m, const char *reason,
                      const char *config, struct cli_access *x)
{
    struct lw_audit_rec r;
    int rc;

    rc = cli_access_check(c, cmd, s, m, reason, config, x);
    if (rc != CLI_CONTINUE)
        return rc;
    cli_audit_rec(c, &r, cmd, m->v.device);
    r.reason = reason;
    r.basis = x->basis;
    r.detail = x->detail;
    return cli_access_record(c, cmd, &r, NULL);
}

int cli_access_unresolved(struct cli *c, const char *cmd, const char *typed,
                          const char *reason, int rc)
{
    struct lw_audit_rec r;

    cli_audit_rec(c, &r, cmd, typed);
    r.reason = reason;
    r.detail =
        rc == CLI_EXIT_NOTFOUND ? "no such vehicle" : "names no single vehicle";
    if (cli_access_record(c, cmd, &r, NULL) != CLI_CONTINUE)
        return CLI_EXIT_FAIL;
    return rc;
}
