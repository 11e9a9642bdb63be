/*
 * cli_fleet.c - a vehicle with several trackers for the commands that show
 * positions (locate, history): whether what was typed names such a vehicle
 * (by its VIN), its trackers (install records, registry.h), and the access
 * decision and audit records for all of them.
 *
 * A VIN names the vehicle, and through it every tracker that is in it now
 * (locate) or ever was (history). When that is one device, the commands
 * keep their one-device path (cli_target_resolve), so a car with one
 * tracker reads as it always did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Matches looked at to decide whether a VEHICLE operand is a VIN only. */
#define FIND_MAX 8

/* Where collect puts the records. */
struct collect_ctx {
    struct cli_fleet *f; /* the vehicle */
    bool oom;            /* out of memory */
};

static int collect(void *ctx, const struct lw_install *r)
{
    struct collect_ctx *c = ctx;
    struct cli_fleet *f = c->f;
    size_t i;

    /* one entry per device: its newest record (current ones come first) */
    for (i = 0; i < f->n; i++)
        if (strcmp(f->dev[i].rec.device, r->device) == 0)
            return 0;
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 4;
        struct cli_fleet_dev *n = realloc(f->dev, ncap * sizeof(*n));

        if (!n) {
            c->oom = true;
            return 1;
        }
        f->dev = n;
        f->cap = ncap;
    }
    memset(&f->dev[f->n], 0, sizeof(f->dev[0]));
    f->dev[f->n].rec = *r;
    f->n++;
    return 0;
}

/* True when the operand text names vehicles by their VIN only. */
static bool vin_only(struct lw_store *s, const char *text, enum lw_err *e)
{
    struct lw_vehicle_match m[FIND_MAX];
    size_t n = 0, i;

    *e = lw_registry_vehicle_find(s, LW_VEHICLE_BY_ANY, text, m, FIND_MAX, &n);
    if (*e != LW_OK || n == 0 || n > FIND_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (m[i].by_device || m[i].by_plate || !m[i].by_vin)
            return false;
    return true;
}

int cli_fleet_resolve(const struct cli_command *me, struct lw_store *s,
                      const struct cli_target *t, bool with_past,
                      struct cli_fleet *f)
{
    struct collect_ctx cc = {f, false};
    enum lw_err e = LW_OK;
    size_t i;

    memset(f, 0, sizeof(*f));
    if (t->by != LW_VEHICLE_BY_VIN &&
        (t->by != LW_VEHICLE_BY_ANY || !vin_only(s, t->text, &e)))
        return e == LW_OK ? CLI_CONTINUE : cli_db_error(me->name, s, e);
    if (lw_store_schema_version(s) < CLI_FLEET_SCHEMA)
        return CLI_CONTINUE;
    e = lw_registry_fleet_find(s, t->text, &f->id, f->vin);
    if (e == LW_ERR_NOTFOUND || e == LW_ERR_INVAL)
        return CLI_CONTINUE; /* the one-device path says what is wrong */
    if (e == LW_OK)
        e = lw_registry_installs(s, f->id, !with_past, collect, &cc);
    if (e == LW_OK && cc.oom)
        e = LW_ERR_NOMEM;
    for (i = 0; e == LW_OK && i < f->n; i++) {
        struct cli_fleet_dev *d = &f->dev[i];

        d->m.by_vin = true;
        e = lw_registry_vehicle_get(s, d->rec.device, &d->m.v);
        d->m.registered = e == LW_OK;
        if (e == LW_ERR_NOTFOUND) {
            memset(&d->m.v, 0, sizeof(d->m.v));
            snprintf(d->m.v.device, sizeof(d->m.v.device), "%s", d->rec.device);
            e = LW_OK;
        }
    }
    if (e != LW_OK) {
        cli_fleet_free(f);
        return cli_db_error(me->name, s, e);
    }
    if (f->vin[0])
        snprintf(f->name, sizeof(f->name), "%s", f->vin);
    else
        snprintf(f->name, sizeof(f->name), LW_FLEET_ID_PREFIX "%lld",
                 (long long)f->id);
    f->merged = f->n >= 2;
    if (!f->merged)
        cli_fleet_free(f);
    return CLI_CONTINUE;
}

void cli_fleet_free(struct cli_fleet *f)
{
    free(f->dev);
    f->dev = NULL;
    f->n = f->cap = 0;
}

int cli_fleet_access(struct cli *c, const char *cmd, struct lw_store *s,
                     struct cli_fleet *f, const char *reason,
                     const char *config)
{
    char devs[CLI_RULE_NOTE_LEN] = "", detail[2 * CLI_RULE_NOTE_LEN];
    struct lw_audit_rec r;
    size_t i, len = 0;
    int rc;

    for (i = 0; i < f->n && len < sizeof(devs); i++)
        len += (size_t)snprintf(devs + len, sizeof(devs) - len, "%s%s",
                                i ? ", " : "", f->dev[i].rec.device);
    /* every tracker decided first: one refused, nothing shown */
    for (i = 0; i < f->n; i++) {
        rc = cli_access_check(c, cmd, s, &f->dev[i].m, reason, config,
                              &f->dev[i].acc);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    /* one record per tracker looked at, naming the vehicle and all its
     * trackers */
    for (i = 0; i < f->n; i++) {
        if (snprintf(detail, sizeof(detail), "%s; vehicle %s, trackers %s",
                     f->dev[i].acc.detail, f->name, devs) >= (int)sizeof(detail))
            memcpy(detail + sizeof(detail) - 4, "...", 4); /* cut short */
        cli_audit_rec(c, &r, cmd, f->dev[i].rec.device);
        r.reason = reason;
        r.basis = f->dev[i].acc.basis;
        r.detail = detail;
        rc = cli_access_record(c, cmd, &r, NULL);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    return CLI_CONTINUE;
}
