/*
 * listing.h - what the web service's lists show of many vehicles, read in
 * one query each.
 *
 * A list of cases or of watched vehicles shows, per row, the vehicle's
 * registry entry, its account (whether it is watched), its last-known fix,
 * when its tracker was last heard and how many alerts are open, and needs,
 * for the access decision (access.h), whether the person asking holds an
 * open case for it. Asked row by row that is six lookups a row; for ops'
 * two thousand open cases, twelve thousand. These listings join the tables
 * instead: one prepared statement, one pass.
 *
 * They decide nothing: the caller passes each row's account to
 * lw_access_account_watched and the rest to lw_access_decide, as for a
 * single vehicle, so the rules stay in access.h alone.
 *
 * Errors: LW_OK (also when cb stopped), LW_ERR_INVAL for a NULL handle or
 * callback, or a database error of store.h. Works on read-only handles.
 * Rows handed to callbacks are valid during the call only. Times are UTC
 * ms since the epoch, from the caller.
 */
#ifndef LIENWATCH_LISTING_H
#define LIENWATCH_LISTING_H

#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/cases.h"
#include "lienwatch/err.h"
#include "lienwatch/fix.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"

/* One row: a device and what a list shows of it. */
struct lw_listing_row {
    struct lw_case c;       /* lw_listing_cases: the case; otherwise
                               zeroed but for c.device */
    bool registered;        /* the device is a registered vehicle */
    struct lw_vehicle v;    /* when registered */
    bool has_account;       /* v.account is a known account */
    struct lw_account a;    /* when has_account */
    bool has_fix;           /* a last-known fix is stored */
    struct lw_fix fix;      /* when has_fix */
    int64_t last_heard_ms;  /* the tracker's last message; 0: never */
    int open_alerts;        /* its alerts not closed (open or
                               acknowledged) */
    int64_t viewer_case_id; /* the viewer's open case for the device at
                               now_ms (lowest id), as lw_case_active
                               says; 0 when none or no viewer */
};

/* Called per row; return 0 to go on, non-zero to stop (not an error). */
typedef int (*lw_listing_cb)(void *ctx, const struct lw_listing_row *r);

/*
 * Calls cb for each case open at f->now_ms (f->open_only is implied) that
 * f selects (f->agent: one agent's; f->device: one device's), by case id.
 * viewer (NULL: none) is the agent whose own open case for each row's
 * device goes into viewer_case_id.
 */
enum lw_err lw_listing_cases(struct lw_store *s, const struct lw_case_filter *f,
                             const char *viewer, lw_listing_cb cb, void *ctx);

/*
 * Calls cb for each registered vehicle whose account is at or over
 * min_days_past_due days past due (at least 1) and not ended (paid off or
 * closed), by account then device: the candidates of ops' list of watched
 * vehicles (the caller still asks lw_access_account_watched). One pass over
 * the accounts. viewer and now_ms as above.
 */
enum lw_err lw_listing_watched(struct lw_store *s, int min_days_past_due,
                               const char *viewer, int64_t now_ms,
                               lw_listing_cb cb, void *ctx);

#endif
