/*
 * store.h - the SQLite store: devices, fix history, last-known fix, counters.
 *
 * One writer (lienwatchd) and any number of readers (the lienwatch CLI) share
 * one database file in WAL mode. The writer batches fixes in explicit
 * transactions (lw_store_begin / lw_store_commit); readers open the file
 * read-only and never block the writer.
 *
 * Invariants kept here, not by callers:
 *   - a fix is stored once per (device, fix_time_ms): QoS 1 redeliveries and
 *     device retries are reported as LW_PUT_DUPLICATE and change nothing;
 *   - history is returned in fix-time order whatever the arrival order;
 *   - the last-known fix of a device only moves forward in fix time; a late
 *     fix goes into history only (LW_PUT_LATE);
 *   - "last heard" (any message, our clock) is kept apart from "last fix"
 *     (newest valid position, the device's clock);
 *   - a device is registered on its first message.
 * Schema changes are numbered migrations applied by lw_store_open (writer).
 *
 * Strings passed in are borrowed (copied by SQLite when needed); structs
 * handed to callbacks are valid only during the callback.
 */
#ifndef LIENWATCH_STORE_H
#define LIENWATCH_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/err.h"
#include "lienwatch/fix.h"

struct lw_store; /* opaque */

/* lw_store_open flags */
#define LW_STORE_RDONLY 0x1 /* open read-only; no migration, no writes */
/*
 * Writable, but neither creates the file nor applies migrations: for short
 * side writes (the CLI's audit record) next to a running daemon. The file
 * must exist (LW_ERR_NOTFOUND) and carry schema LW_STORE_SCHEMA_VERSION
 * (LW_ERR_SCHEMA for any other: an older file is upgraded by a writer open,
 * i.e. lienwatchd or 'lienwatch init-db'); a file this user may not write is
 * LW_ERR_IO. Ignored together with LW_STORE_RDONLY, which has the same
 * version rule.
 */
#define LW_STORE_NOMIGRATE 0x2

/* Schema version this build writes (see lib/store.c migrations). */
#define LW_STORE_SCHEMA_VERSION 4

/*
 * Opens (creating and migrating when writable) the database at path; ":memory:"
 * works for tests. Sets WAL, synchronous=NORMAL, busy_timeout. On success
 * *out owns the handle (free with lw_store_close). A read-only open of a file
 * that does not exist fails with LW_ERR_NOTFOUND. err gets detail.
 */
enum lw_err lw_store_open(struct lw_store **out, const char *path, int flags,
                          char *err, size_t errlen);

/* Closes the handle, rolling back an open transaction. NULL is a no-op. */
void lw_store_close(struct lw_store *s);

/* Last SQLite error message of this handle (static until the next call). */
const char *lw_store_errmsg(const struct lw_store *s);

/* Transactions for batching (writer). begin is BEGIN IMMEDIATE. */
enum lw_err lw_store_begin(struct lw_store *s);
enum lw_err lw_store_commit(struct lw_store *s);
enum lw_err lw_store_rollback(struct lw_store *s);
bool lw_store_in_txn(const struct lw_store *s);

/* Outcome of lw_store_put_fix. */
enum lw_put_result {
    LW_PUT_NEWEST = 1, /* stored and now the device's last-known fix */
    LW_PUT_LATE,       /* stored in history; older than the last-known fix */
    LW_PUT_DUPLICATE,  /* same device and fix time already stored: ignored */
};

/*
 * Stores fix f (device registered if new; last heard set to recv_time_ms if
 * later). *res (may be NULL) says what happened. Does not begin or commit.
 */
enum lw_err lw_store_put_fix(struct lw_store *s, const struct lw_fix *f,
                             enum lw_put_result *res);

/*
 * Records that device was heard at recv_ms without a position (registers it
 * if new). Does not begin or commit.
 */
enum lw_err lw_store_heard(struct lw_store *s, const char *device,
                           int64_t recv_ms);

/* Adds delta to the persistent counter name (created at 0). */
enum lw_err lw_store_counter_add(struct lw_store *s, const char *name,
                                 int64_t delta);

/* What lw_store_device_get and lw_store_devices report. */
struct lw_device_info {
    char device[LW_DEVICE_MAX + 1]; /* device id */
    int64_t first_heard_ms;         /* first message, our clock */
    int64_t last_heard_ms;          /* latest message of any kind, our clock */
    int64_t last_fix_ms;            /* fix time of last-known fix; 0 if none */
    int64_t fixes;                  /* number of fixes in history */
};

/* Reads one device. LW_ERR_NOTFOUND when never heard of. */
enum lw_err lw_store_device_get(struct lw_store *s, const char *device,
                                struct lw_device_info *out);

/* Last-known fix of device into *out. LW_ERR_NOTFOUND when it has none. */
enum lw_err lw_store_last_fix(struct lw_store *s, const char *device,
                              struct lw_fix *out);

/* Callbacks return 0 to go on, non-zero to stop early (not an error). */
typedef int (*lw_fix_cb)(void *ctx, const struct lw_fix *f);
typedef int (*lw_device_cb)(void *ctx, const struct lw_device_info *d);
typedef int (*lw_counter_cb)(void *ctx, const char *name, int64_t value);

/*
 * Calls cb for each stored fix of device with from_ms <= fix_time_ms <= to_ms
 * (INT64_MIN / INT64_MAX for open ends), in fix-time order.
 */
enum lw_err lw_store_history(struct lw_store *s, const char *device,
                             int64_t from_ms, int64_t to_ms, lw_fix_cb cb,
                             void *ctx);

/* Calls cb for every device, ordered by id. */
enum lw_err lw_store_devices(struct lw_store *s, lw_device_cb cb, void *ctx);

/* Calls cb for every counter, ordered by name. */
enum lw_err lw_store_counters(struct lw_store *s, lw_counter_cb cb, void *ctx);

/*
 * Deletes history fixes with fix_time_ms < before_ms (retention), never the
 * last-known fix of a device. *deleted (may be NULL) gets the count.
 */
enum lw_err lw_store_prune(struct lw_store *s, int64_t before_ms,
                           int64_t *deleted);

/*
 * One bounded step of the same, for a caller that must not stop for long:
 * goes through the devices after cursor (a buffer of LW_DEVICE_MAX + 1
 * bytes; "" starts a pass) in id order, deleting at most max_rows fixes, and
 * leaves in cursor where the next step goes on. *finished (may be NULL)
 * tells when the pass went past the last device; *deleted (may be NULL) gets
 * the count. One savepoint: in the caller's transaction, or a transaction of
 * its own. A pass that starts at "" moves the fix inbox into history first.
 */
enum lw_err lw_store_prune_step(struct lw_store *s, int64_t before_ms,
                                char *cursor, int64_t max_rows,
                                int64_t *deleted, bool *finished);

/*
 * Appends an audit record: who looked up (or changed) what, when, why.
 * Works on a writable handle only.
 */
enum lw_err lw_store_audit(struct lw_store *s, int64_t at_ms, const char *who,
                           const char *action, const char *device,
                           const char *reason);

/* One audit record, as lw_store_audit_list reports it. */
struct lw_audit_entry {
    int64_t id;         /* insertion order, increasing */
    int64_t at_ms;      /* when (UTC ms, the caller's clock) */
    const char *who;    /* person or program */
    const char *action; /* "locate", "history", ... */
    const char *device; /* device concerned, NULL when none */
    const char *reason; /* stated reason, NULL when none given */
};

/* Strings in *a are valid only during the callback. */
typedef int (*lw_audit_cb)(void *ctx, const struct lw_audit_entry *a);

/*
 * Calls cb for every audit record (of device only, unless device is NULL),
 * oldest first. Works on read-only handles too.
 */
enum lw_err lw_store_audit_list(struct lw_store *s, const char *device,
                                lw_audit_cb cb, void *ctx);

/* Schema version of the open database (0 if unversioned; -1 on error). */
int lw_store_schema_version(struct lw_store *s);

#endif
