/*
 * spill.h - the spill file: what the daemon received and acknowledged but
 * could not commit before a stop (a database locked or full for longer than
 * [store] stop_timeout), written beside the database and merged into it at
 * the next start, before anything is read from the broker.
 *
 * Format (one JSON object per line, UTF-8):
 *   {"lienwatch_spill":1}                    header, format version 1
 *   {"t":"fix","device":...,"fix_ms":...,"recv_ms":...,"lat":...,"lon":...,
 *    "speed":...,"course":...,"acc":...,"alt":...,"batt":...,"trig":"p"}
 *   {"t":"heard","device":...,"recv_ms":...}
 *   {"t":"account","account":...,"days_past_due":...,"status":...,
 *    "updated_ms":...}
 *   {"t":"alert","kind":...,"device":...,"fence":...,"fence_tag":...,
 *    "raised_ms":...,"late":...,"age_ms":...,"gap_ms":...,"moved_m":...,
 *    "fix":{...the fix fields...}}
 *   {"end":N}                                N records before it
 * Unknown optional fields (NAN, -1 battery, no trigger) are left out;
 * doubles are written with 17 significant digits, so a record reads back
 * bit for bit. Records are in the order they happened.
 *
 * Writing is atomic: lw_spill_create writes PATH.tmp (mode 0600), and
 * lw_spill_commit flushes it, fsyncs it, renames it over PATH and fsyncs
 * the directory: PATH is either the old file or the complete new one.
 *
 * Pure core: no clock, no logging; errors come back with detail in err.
 */
#ifndef LIENWATCH_SPILL_H
#define LIENWATCH_SPILL_H

#include <stddef.h>

#include "lienwatch/alert.h"
#include "lienwatch/decode.h"
#include "lienwatch/err.h"
#include "lienwatch/fix.h"

/* Format version written and read. */
#define LW_SPILL_VERSION 1

enum lw_spill_kind {
    LW_SPILL_FIX = 1, /* a received fix (fix) */
    LW_SPILL_HEARD,   /* a message without a position (fix.device and
                         fix.recv_time_ms) */
    LW_SPILL_ACCOUNT, /* an account status from MQTT (account, updated_ms) */
    LW_SPILL_ALERT,   /* a raised alert not yet stored (alert) */
};

/* One record; the member its kind names is meaningful. */
struct lw_spill_rec {
    enum lw_spill_kind kind;          /* which one */
    struct lw_fix fix;                /* FIX, HEARD */
    struct lw_account_update account; /* ACCOUNT */
    int64_t updated_ms;               /* ACCOUNT: when it was received */
    struct lw_alert alert;            /* ALERT */
};

struct lw_spill; /* a spill being written (opaque) */

/*
 * Starts writing the spill file path (borrowed): creates path.tmp, mode
 * 0600, replacing a leftover one. Returns LW_OK and *out (finish with
 * lw_spill_commit or lw_spill_abort), LW_ERR_INVAL, LW_ERR_NOMEM, or
 * LW_ERR_IO / LW_ERR_FULL with detail in err.
 */
enum lw_err lw_spill_create(struct lw_spill **out, const char *path,
                            char *err, size_t errlen);

/* Appends one record (borrowed). Returns LW_OK, LW_ERR_INVAL (unknown kind),
 * LW_ERR_NOMEM, or LW_ERR_IO / LW_ERR_FULL (detail kept for commit). */
enum lw_err lw_spill_add(struct lw_spill *sp, const struct lw_spill_rec *r);

/*
 * Ends the file (the end line), fsyncs it, renames it to the path given
 * to lw_spill_create and fsyncs the directory; frees sp in every case (on
 * failure the temporary file is removed and path is left as it was).
 * Returns LW_OK, or LW_ERR_IO / LW_ERR_FULL (also for an earlier failed
 * lw_spill_add) with detail in err.
 */
enum lw_err lw_spill_commit(struct lw_spill *sp, char *err, size_t errlen);

/* Gives up: removes the temporary file and frees sp. NULL is a no-op. */
void lw_spill_abort(struct lw_spill *sp);

/* Receives each record read (borrowed for the call); non-zero stops. */
typedef int (*lw_spill_cb)(void *ctx, const struct lw_spill_rec *r);

/*
 * Reads the spill file path, calling cb for each record in order.
 * Returns LW_OK; LW_ERR_NOTFOUND when there is no such file; LW_ERR_IO when
 * it cannot be read; LW_ERR_INVAL when it is not a spill file of this
 * version, a line is not a valid record (line number in err: no record is
 * handed out then, the file is checked whole first), or the end line is
 * missing or does not count the records (a truncated file); LW_ERR_NOMEM.
 */
enum lw_err lw_spill_read(const char *path, lw_spill_cb cb, void *ctx,
                          char *err, size_t errlen);

#endif
