/*
 * audit.h - the audit trail: who looked up or changed what, when, and why.
 *
 * Borrowers' locations are personal data: every look at one (the CLI's
 * locate, history, ...) and every change of the registry is recorded here,
 * and the trail is what the lender's compliance officer reads. Records are
 * appended, never changed or deleted by lienwatch. The table (audit, schema
 * migration 1, lib/schema.c) has no foreign key on device: the trail
 * outlives devices and also records lookups of ids that never existed.
 *
 * Works on the store's connection (store.h). Times are UTC ms since the
 * epoch, from the caller's clock. Strings passed in are borrowed (copied by
 * SQLite); entries handed to callbacks are valid during the call only.
 */
#ifndef LIENWATCH_AUDIT_H
#define LIENWATCH_AUDIT_H

#include <stdint.h>

#include "lienwatch/err.h"
#include "lienwatch/store.h"

/*
 * Appends an audit record: who (a person or program, not empty) did action
 * (not empty: "locate", "history", "vehicle.set", ...) at at_ms, about
 * device (NULL when none), for reason (NULL when none given). Runs in the
 * caller's transaction when one is open. Needs a writable handle (a
 * LW_STORE_NOMIGRATE open is enough, next to a running daemon).
 *
 * Returns LW_OK; LW_ERR_INVAL for a NULL or read-only handle or an empty
 * who or action (reason in lw_store_errmsg); LW_ERR_BUSY when the daemon
 * held the write lock past the busy timeout; LW_ERR_FULL, LW_ERR_READONLY,
 * LW_ERR_IO, LW_ERR_CORRUPT or LW_ERR_DB from the database (err.h).
 */
enum lw_err lw_audit_add(struct lw_store *s, int64_t at_ms, const char *who,
                         const char *action, const char *device,
                         const char *reason);

/* One audit record, as lw_audit_list reports it. */
struct lw_audit_entry {
    int64_t id;         /* insertion order, increasing */
    int64_t at_ms;      /* when (UTC ms, the caller's clock) */
    const char *who;    /* person or program */
    const char *action; /* "locate", "history", ... */
    const char *device; /* device concerned, NULL when none */
    const char *reason; /* stated reason, NULL when none given */
};

/* Called per record; the strings in *a are valid only during the call.
 * Returns 0 to go on, non-zero to stop (not an error). */
typedef int (*lw_audit_cb)(void *ctx, const struct lw_audit_entry *a);

/*
 * Calls cb for every audit record (of device only, unless device is NULL),
 * oldest first. Works on read-only handles too. Returns LW_OK (also when cb
 * stopped early); LW_ERR_INVAL for a NULL handle or cb; LW_ERR_BUSY,
 * LW_ERR_IO, LW_ERR_CORRUPT, LW_ERR_NOMEM or LW_ERR_DB when reading failed
 * (the records seen until then were reported).
 */
enum lw_err lw_audit_list(struct lw_store *s, const char *device,
                          lw_audit_cb cb, void *ctx);

#endif
