/*
 * store.h - the SQLite store: devices, fix history, last-known fix, counters,
 * a small key -> text table, and the handle every other database module
 * (registry.h, outbox.h, audit.h) works on.
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
 * Schema changes are numbered migrations (lib/schema.c) applied by
 * lw_store_open (writer).
 *
 * Errors. Every function returning enum lw_err returns LW_OK on success and
 * LW_ERR_INVAL for a NULL handle or a NULL required argument; database
 * failures come in the classes of err.h: LW_ERR_BUSY (another connection
 * held the lock past the busy timeout: retry later), LW_ERR_FULL (disk
 * full), LW_ERR_READONLY (may not write the file), LW_ERR_IO, LW_ERR_CORRUPT,
 * LW_ERR_NOMEM and LW_ERR_DB. Below, "a database error" means one of these.
 * After any failure lw_store_errmsg says what failed and why.
 *
 * Ownership. Strings passed in are borrowed (copied by SQLite when needed);
 * structs and strings handed to callbacks are valid only during the
 * callback. A callback may call other store functions (even the one that
 * called it: a query in use is prepared afresh), but must not close the
 * handle. One handle is used by one thread at a time.
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
 * LW_ERR_READONLY. Ignored together with LW_STORE_RDONLY, which has the same
 * version rule.
 */
#define LW_STORE_NOMIGRATE 0x2

/* Schema version this build writes (the number of migrations in
 * lib/schema.c). */
#define LW_STORE_SCHEMA_VERSION 9

/* How long a statement waits for another connection's lock by default, ms
 * (lw_store_set_busy_timeout changes it). */
#define LW_STORE_BUSY_TIMEOUT_MS 5000

/*
 * Opens the database at path (":memory:" works for tests). A writer (flags
 * 0) creates the file (mode 0600) when missing and applies every pending
 * migration in one transaction; every open sets WAL (writers),
 * synchronous=NORMAL and a busy timeout of LW_STORE_BUSY_TIMEOUT_MS.
 * On success *out owns the handle (free with lw_store_close). On failure
 * *out is NULL and err (may be NULL; errlen bytes) gets a sentence naming
 * path.
 *
 * Returns LW_OK; LW_ERR_INVAL for a NULL out or path or unknown flags;
 * LW_ERR_NOTFOUND for a read-only or no-migrate open of a missing file;
 * LW_ERR_SCHEMA when the file's schema is newer than this build, or (read-
 * only, no-migrate) not LW_STORE_SCHEMA_VERSION or absent; LW_ERR_READONLY
 * when a writer may not write the file; LW_ERR_IO when the file or its
 * directory cannot be created or opened; LW_ERR_CORRUPT for a file that is
 * not a database; LW_ERR_BUSY when another writer held the lock during the
 * migration; LW_ERR_NOMEM; or another database error.
 */
enum lw_err lw_store_open(struct lw_store **out, const char *path, int flags,
                          char *err, size_t errlen);

/* Closes the handle, rolling back an open transaction. NULL is a no-op. */
void lw_store_close(struct lw_store *s);

/*
 * What the last failure of s was, as a sentence ("storing a fix: database
 * or disk is full"); SQLite's last message when nothing failed yet;
 * "no store handle" for NULL. Borrowed: valid until the next call on s.
 */
const char *lw_store_errmsg(const struct lw_store *s);

/*
 * How long a statement on s waits for a lock another connection holds
 * before it fails with LW_ERR_BUSY: ms >= 0, 0 to fail at once. A daemon
 * loop uses a short one (tens of ms) and retries from a timer, rather than
 * stopping for LW_STORE_BUSY_TIMEOUT_MS while the CLI writes. Returns
 * LW_OK, or LW_ERR_INVAL for a NULL handle or a negative ms.
 */
enum lw_err lw_store_set_busy_timeout(struct lw_store *s, int ms);

/*
 * The page cache of s's connection, KiB (SQLite's default is 2,048). A
 * reader that answers from large listings and then records one audit row
 * per item in a transaction (lienwatch-web) needs more than the default,
 * or SQLite spills the transaction's pages to the WAL before its commit
 * and reads the same pages again and again. Returns LW_OK, LW_ERR_INVAL
 * for a NULL handle or kib < 64, or a database error.
 */
enum lw_err lw_store_set_cache_kib(struct lw_store *s, int kib);

/*
 * Transactions for batching (writer). lw_store_begin is BEGIN IMMEDIATE:
 * it takes the write lock at once (or fails with LW_ERR_BUSY after the busy
 * timeout), so nothing in the transaction can fail for the lock later.
 * lw_store_commit first moves a full fix inbox into history (see
 * lw_store_put_fix), then commits; on failure the transaction stays open
 * and the caller decides: retry the commit, or lw_store_rollback (which
 * undoes every write since begin, fixes included). Each returns LW_OK or a
 * database error (LW_ERR_DB when there is no transaction to commit or roll
 * back, or one already open to begin).
 */
enum lw_err lw_store_begin(struct lw_store *s);
enum lw_err lw_store_commit(struct lw_store *s);
enum lw_err lw_store_rollback(struct lw_store *s);

/*
 * A read transaction for a reader that asks several questions which must
 * agree (an evidence bundle: the fixes, the alerts, the audit records and
 * the audit head of one moment): every read on s until lw_store_rollback
 * sees the database as it was at the first of them. Works on read-only
 * handles; takes no lock that holds up a writer (WAL). Returns LW_OK or a
 * database error (LW_ERR_DB when a transaction is already open).
 */
enum lw_err lw_store_read_begin(struct lw_store *s);

/* True while a transaction is open on s (false for NULL). */
bool lw_store_in_txn(const struct lw_store *s);

/* Outcome of lw_store_put_fix. */
enum lw_put_result {
    LW_PUT_NEWEST = 1, /* stored and now the device's last-known fix */
    LW_PUT_LATE,       /* stored in history; older than the last-known fix */
    LW_PUT_DUPLICATE,  /* same device and fix time already stored: ignored */
    LW_PUT_ENDED,      /* not stored: the device's loan ended (paid off,
                          closed) or its tracker was removed (purges) */
};

/*
 * Stores fix f (borrowed; device registered if new; last heard set to
 * recv_time_ms if later). *res (may be NULL) says what happened. Does not
 * begin or commit: in the caller's transaction, or one of its own per
 * statement when none is open. Returns LW_OK; LW_ERR_INVAL for a read-only
 * handle, a missing or too long device id, a position that is not finite
 * or outside WGS-84, or a battery outside -1..100 (nothing stored); or a
 * database error (the caller's transaction is then to be rolled back).
 */
enum lw_err lw_store_put_fix(struct lw_store *s, const struct lw_fix *f,
                             enum lw_put_result *res);

/*
 * Records that device (borrowed) was heard at recv_ms without a position
 * (registers it if new). Does not begin or commit. Returns LW_OK,
 * LW_ERR_INVAL (read-only handle, invalid device id) or a database error.
 */
enum lw_err lw_store_heard(struct lw_store *s, const char *device,
                           int64_t recv_ms);

/*
 * Adds delta to the persistent counter name (borrowed; created at 0).
 * Returns LW_OK, LW_ERR_INVAL (read-only handle, empty name) or a database
 * error.
 */
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

/*
 * Reads one device into *out (copied). Returns LW_OK, LW_ERR_NOTFOUND when
 * never heard of, LW_ERR_INVAL or a database error.
 */
enum lw_err lw_store_device_get(struct lw_store *s, const char *device,
                                struct lw_device_info *out);

/*
 * Last-known fix of device into *out (copied). Returns LW_OK,
 * LW_ERR_NOTFOUND when the device is unknown or has no fix, LW_ERR_INVAL or
 * a database error.
 */
enum lw_err lw_store_last_fix(struct lw_store *s, const char *device,
                              struct lw_fix *out);

/*
 * Where the stay that ends at newest (a stored fix of newest->device)
 * began: *first gets the first of the fixes from from_ms up to newest in
 * which the device stayed within radius_m of newest's position, i.e. the
 * first one after the last fix farther than that (from_ms's fix when none
 * is). Fixes less accurate than max_accuracy_m, or flagged suspect
 * (suspect.h), neither end a stay nor start one. What the alert pipeline
 * rebuilds parked_long from at a restart. Returns LW_OK, LW_ERR_NOTFOUND
 * (no usable fix), LW_ERR_INVAL or a database error.
 */
enum lw_err lw_store_stay_start(struct lw_store *s, const struct lw_fix *newest,
                                double radius_m, double max_accuracy_m,
                                int64_t from_ms, struct lw_fix *first);

/* Callbacks return 0 to go on, non-zero to stop early (not an error). */
typedef int (*lw_fix_cb)(void *ctx, const struct lw_fix *f);
typedef int (*lw_device_cb)(void *ctx, const struct lw_device_info *d);
typedef int (*lw_counter_cb)(void *ctx, const char *name, int64_t value);

/*
 * Calls cb for each stored fix of device with from_ms <= fix_time_ms <= to_ms
 * (INT64_MIN / INT64_MAX for open ends), in fix-time order. Returns LW_OK
 * (also when cb stopped early or nothing matched), LW_ERR_INVAL or a
 * database error (the fixes seen until then were reported).
 */
enum lw_err lw_store_history(struct lw_store *s, const char *device,
                             int64_t from_ms, int64_t to_ms, lw_fix_cb cb,
                             void *ctx);

/* Calls cb for every device, ordered by id. Returns as lw_store_history. */
enum lw_err lw_store_devices(struct lw_store *s, lw_device_cb cb, void *ctx);

/* Calls cb for every counter, ordered by name (the name is valid during
 * the call). Returns as lw_store_history. */
enum lw_err lw_store_counters(struct lw_store *s, lw_counter_cb cb, void *ctx);

/*
 * Deletes history fixes with fix_time_ms < before_ms (retention), never the
 * last-known fix of a device, in one savepoint (all or nothing). *deleted
 * (may be NULL) gets the count. Returns LW_OK, LW_ERR_INVAL (read-only
 * handle) or a database error.
 */
enum lw_err lw_store_prune(struct lw_store *s, int64_t before_ms,
                           int64_t *deleted);

/*
 * One bounded step of the same, for a caller that must not stop for long:
 * goes through the devices after cursor (a buffer of LW_DEVICE_MAX + 1
 * bytes; "" starts a pass) in id order, deleting at most max_rows (>= 1)
 * fixes, and leaves in cursor where the next step goes on. *finished (may be
 * NULL) tells when the pass went past the last device; *deleted (may be
 * NULL) gets the count. One savepoint: in the caller's transaction, or a
 * transaction of its own. A pass that starts at "" moves the fix inbox into
 * history first. Returns LW_OK; LW_ERR_INVAL (read-only handle, NULL cursor,
 * max_rows < 1); or a database error (the step is undone; cursor may have
 * moved, which only repeats work).
 */
enum lw_err lw_store_prune_step(struct lw_store *s, int64_t before_ms,
                                char *cursor, int64_t max_rows,
                                int64_t *deleted, bool *finished);

/*
 * Schema version of the open database: LW_STORE_SCHEMA_VERSION for a handle
 * that opened (0 if unversioned; -1 for NULL or when reading it failed).
 */
int lw_store_schema_version(struct lw_store *s);

/*
 * PRAGMA data_version of this connection into *out: a number that changes
 * when another connection (the CLI, a second daemon) committed since the
 * last call, and not for this connection's own commits. The daemon polls it
 * to see registry and alert changes (registry.h). Returns LW_OK (*out 0 on
 * failure), LW_ERR_INVAL or a database error.
 */
enum lw_err lw_store_data_version(struct lw_store *s, int64_t *out);

/*
 * One bounded step of retention thinning: goes through the devices after
 * cursor (LW_DEVICE_MAX + 1 bytes; "" starts a pass) in id order and thins
 * their history older than before_ms that no earlier pass thinned (the
 * thin_marks table, migration 6) to at most one fix per interval_ms bucket
 * per device, keeping the first and last fix of each stop (places.h's stop
 * detection) and of each chunk read, and the last-known fix. Reads at most
 * max_rows (>= 2) fixes; leaves in cursor where the next step goes on.
 * *finished (may be NULL) tells when the pass went past the last device;
 * *deleted (may be NULL) gets the fixes deleted. A pass that starts at ""
 * moves the fix inbox into history first. One savepoint: in the caller's
 * transaction, or one of its own. Returns LW_OK; LW_ERR_INVAL
 * (read-only handle, NULL cursor, max_rows < 2, interval_ms < 1);
 * LW_ERR_NOMEM; or a database error (the step is undone).
 */
enum lw_err lw_store_thin_step(struct lw_store *s, int64_t before_ms,
                               int64_t interval_ms, char *cursor,
                               int64_t max_rows, int64_t *deleted,
                               bool *finished);

/* ---- the end of a loan: purges ------------------------------------------ */

/* What one lw_store_purge_step did. */
struct lw_purge_step {
    char device[LW_DEVICE_MAX + 1];  /* the device purged; "" when none due */
    char account[LW_DEVICE_MAX + 1]; /* its account ("" for a removal) */
    char reason[16];                 /* "paid_off", "closed" or "removed" */
    int64_t requested_ms;            /* when the loan ended / removal */
    int64_t deleted;                 /* history fixes this step deleted */
    int64_t total;                   /* history fixes of the device so far */
    bool done;                       /* the device is purged: history, last
                                        fix, alert positions, its mail; the
                                        caller records it in the audit trail
                                        in the same transaction */
};

/*
 * One bounded step of the purges due at now_ms: the first device in the
 * purges table (migration 6) not yet done whose purge was requested at least
 * delay_ms ago ([privacy] purge_after_payoff), or at once for a removal
 * with --purge. Deletes at most max_rows (>= 1) of its history fixes; when
 * fewer were left, also its last-known fix (the devices row stays, without
 * a position), the inbox, the positions of its alerts (the alerts stay),
 * its mail in the outbox (the text carries positions), and marks it done.
 * The registry (vehicle, account) and the audit trail are kept. Runs in the
 * caller's transaction (required: the caller appends the audit record of a
 * finished purge in it). Fixes of a device in purges are never stored
 * again (lw_store_put_fix: LW_PUT_ENDED). Returns LW_OK (out->device ""
 * when nothing is due); LW_ERR_INVAL (read-only handle, no transaction,
 * max_rows < 1, delay_ms < 0); or a database error.
 */
enum lw_err lw_store_purge_step(struct lw_store *s, int64_t now_ms,
                                int64_t delay_ms, int64_t max_rows,
                                struct lw_purge_step *out);

/* ---- meta: small named values (key -> text) ------------------------------ */

/*
 * The text stored under key (borrowed, not empty) into *value: a new
 * NUL-terminated string the caller frees with free(). Numbers that the
 * registry keeps in the same table (registry_version, ...) read as their
 * decimal text. Returns LW_OK; LW_ERR_NOTFOUND when key has no value
 * (*value NULL); LW_ERR_INVAL; LW_ERR_NOMEM; or a database error.
 */
enum lw_err lw_store_meta_get(struct lw_store *s, const char *key,
                              char **value);

/*
 * Stores value (borrowed, copied; any text, stored byte for byte) under key
 * (at most 128 bytes), replacing what was there; a NULL value deletes the
 * key. For a program's own small state, e.g. the daemon's past MQTT
 * subscriptions: name keys with a prefix of your own ("mqtt.", "daemon.").
 * The registry's and the outbox's numeric keys (registry_version,
 * alerts_version, fence_id_seq, mail_instance) are refused. Does not begin
 * or commit. Returns LW_OK; LW_ERR_INVAL (read-only handle, empty, too long
 * or reserved key); LW_ERR_RANGE (a value over 2 GiB); or a database error.
 */
enum lw_err lw_store_meta_set(struct lw_store *s, const char *key,
                              const char *value);

#endif
