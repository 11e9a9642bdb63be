/*
 * suspect.h - fixes stored but flagged suspect (a "jump", jump.h): kept in
 * the history, shown as such, never the device's last-known fix until a
 * later fix confirms the move.
 *
 * The flag lives in its own table (fix_suspect: device, fix_time_ms, kind)
 * beside the fix tables, so storing, merging and pruning fixes are
 * unchanged. Call these on a writable store inside the caller's transaction
 * (ingest's batch), after lw_store_put_fix stored the fix.
 */
#ifndef LIENWATCH_SUSPECT_H
#define LIENWATCH_SUSPECT_H

#include <stdint.h>

#include "lienwatch/err.h"
#include "lienwatch/store.h"

/* Longest kind, without the NUL. */
#define LW_SUSPECT_KIND_MAX 15

/*
 * Flags the stored fix (device, fix_time_ms) with kind ("jump"; borrowed),
 * and, when it had become the device's last-known fix, puts back the
 * device's stored fix at keep_ms (the previous accepted one) as its
 * last-known fix. Returns LW_OK, LW_ERR_INVAL, or a database error.
 */
enum lw_err lw_suspect_mark(struct lw_store *s, const char *device,
                            int64_t fix_time_ms, const char *kind,
                            int64_t keep_ms);

/* Called per suspect fix; return non-zero to stop. kind is borrowed. */
typedef int (*lw_suspect_cb)(void *ctx, int64_t fix_time_ms, const char *kind);

/*
 * Calls cb for each suspect fix of device with from_ms <= fix time <=
 * to_ms, in fix-time order. A database without the table (older schema)
 * has none. Returns LW_OK or a database error.
 */
enum lw_err lw_suspect_each(struct lw_store *s, const char *device,
                            int64_t from_ms, int64_t to_ms, lw_suspect_cb cb,
                            void *ctx);

#endif
