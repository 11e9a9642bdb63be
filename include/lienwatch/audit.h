/*
 * audit.h - the audit trail: who looked up or changed what, when, and why,
 * as a tamper-evident chain of records.
 *
 * Borrowers' locations are personal data: every look at one (the CLI's
 * locate, history, evidence; the web service's answers) and every change
 * of the registry, of alerts, cases and users, and every purge is recorded
 * here, and the trail is what the lender's compliance officer, an auditor or
 * a court reads. Records are appended, never changed or deleted: SQLite
 * triggers refuse UPDATE and DELETE on the table (schema migration 5), and
 * since whoever holds the file can drop triggers, every record also carries
 * a SHA-256 chained to the record before it, so a change, a removal, an
 * insertion or a reordering shows (lw_audit_verify).
 *
 * The chain (format 1). Record n (rows in id order) has
 *
 *     hash(n) = SHA-256( "LWAUDIT1"                      8 bytes, ASCII
 *                        || hash(n-1)                    32 bytes
 *                        || i64(id) || i64(at_ms)        8 bytes each
 *                        || str(who) || str(action) || str(device)
 *                        || str(reason) || str(role) || str(via)
 *                        || str(as_name) || str(os_detail) || str(client)
 *                        || str(case_id) || str(basis) || str(detail) )
 *
 * where hash(0), before the first record, is 32 zero bytes; i64(v) is v as
 * 8 bytes, two's complement, big-endian; str(s) is the length of s in bytes
 * as 4 bytes big-endian followed by those bytes (UTF-8 as stored, no
 * terminator), and str(NULL) is the 4 bytes FF FF FF FF alone (so NULL and
 * "" differ). The twelve texts are the table's text columns in its column
 * order. The hash is stored in column hash as 64 lowercase hexadecimal
 * digits. Every column but hash is covered; the encoding is unambiguous
 * (each field's length is known before its bytes), so two different
 * records never share an input. ARCHITECTURE.md repeats this for auditors.
 *
 * What the chain proves, and what not. Anyone who can write the file can
 * also recompute every hash after a change (SHA-256 has no secret): the
 * chain shows tampering relative to a head (the last record's id and hash)
 * that was copied out before it. lienwatchd publishes the head (retained,
 * <prefix>/audit/head) and logs it hourly, evidence bundles carry the head
 * at export, and lw_audit_verify checks a given head is still in the trail
 * with the same hash. Removing records at the end is only visible that way.
 *
 * Kinds of action (column action): an open set of short lowercase words,
 * space-separated "object verb" for changes. Known today:
 *   locate, history          a position or a history was shown (device;
 *                            basis, reason, case_id say on what grounds)
 *   alerts                   alerts with their positions were listed
 *   evidence                 an evidence bundle was written (detail: where,
 *                            the range, the signing key)
 *   vehicle set, account set, account import, geofence import,
 *   geofence add-circle, geofence remove
 *                            registry changes (detail: what changed)
 *   alert ack, alert close   an alert's lifecycle (device; detail)
 * and, as they come: vehicle remove, case open, case assign, case close,
 * user add, user change, user remove, purge (positions deleted after the end
 * of a loan), login. A new kind needs no schema change; document it here.
 *
 * Works on the store's connection (store.h). Times are UTC ms since the
 * epoch, from the caller's clock. Strings passed in are borrowed (copied by
 * SQLite); entries handed to callbacks are valid during the call only.
 * No clock, no logging: the caller says when, and reports failures.
 */
#ifndef LIENWATCH_AUDIT_H
#define LIENWATCH_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/err.h"
#include "lienwatch/store.h"

/* Bytes of a record's hash (SHA-256), and of its hexadecimal form. */
#define LW_AUDIT_HASH_BYTES 32
#define LW_AUDIT_HASH_HEX 64
/* The first 8 bytes hashed for every record: the chain's format 1. */
#define LW_AUDIT_TAG "LWAUDIT1"
/* Longest text of one field, in bytes; longer is LW_ERR_RANGE. */
#define LW_AUDIT_TEXT_MAX 16384
/* Number of text fields in a record (see the chain above). */
#define LW_AUDIT_NTEXT 12

/*
 * One record to append. who and action are required; every other text may
 * be NULL (not known, not applicable). Identity: who is what the program
 * itself established, never what a person typed: the CLI's operating-system
 * account (the effective uid's login name), the web service's signed-in
 * user, "lienwatchd" for the daemon. A name a person gives (--as) goes into
 * as_name, in addition; details the operating system gives but does not
 * vouch for (a real uid that differs, SUDO_USER) into os_detail.
 */
struct lw_audit_rec {
    int64_t at_ms;         /* when (UTC ms, the caller's clock) */
    const char *who;       /* identity the program established, not empty */
    const char *action;    /* kind of action (see above), not empty */
    const char *device;    /* device concerned, NULL when none */
    const char *reason;    /* reason a person stated, NULL when none */
    const char *role;      /* role acted in (web: agent, ops, ...), NULL */
    const char *via;       /* program: "cli", "web", "daemon"; NULL */
    const char *as_name;   /* name given by the person (--as); unverified */
    const char *os_detail; /* more of the OS identity (sudo, real uid) */
    const char *client;    /* client address (web: IP address), NULL */
    const char *case_id;   /* case the action was taken under, NULL */
    const char *basis;     /* why access was granted: "watched",
                              "override", "case", ...; NULL */
    const char *detail;    /* what was changed or shown, NULL */
};

/* The last record of the trail: what lienwatchd publishes. */
struct lw_audit_head {
    int64_t id;                       /* its id; 0: empty trail; -1:
                                         unknown (a head given as a hash) */
    char hash[LW_AUDIT_HASH_HEX + 1]; /* its hash, lowercase hex; 64 '0'
                                         for an empty trail */
};

/*
 * Appends record r (borrowed) to the trail, chained to the last record:
 * reads the last hash and inserts the next id, in one write transaction (the
 * caller's when one is open: it must be a write transaction, lw_store_begin;
 * otherwise one of its own, BEGIN IMMEDIATE, so two writers never chain to
 * the same record). *out (may be NULL) gets the new record's id and hash.
 * Needs a writable handle (a LW_STORE_NOMIGRATE open is enough, next to a
 * running daemon).
 *
 * Returns LW_OK; LW_ERR_INVAL for a NULL or read-only handle, a NULL r, or
 * an empty who or action (reason in lw_store_errmsg); LW_ERR_RANGE for a
 * text longer than LW_AUDIT_TEXT_MAX; LW_ERR_BUSY when another writer held
 * the lock past the busy timeout; LW_ERR_FULL, LW_ERR_READONLY, LW_ERR_IO,
 * LW_ERR_CORRUPT or LW_ERR_DB from the database (err.h). Nothing is
 * recorded on failure.
 */
enum lw_err lw_audit_append(struct lw_store *s, const struct lw_audit_rec *r,
                            struct lw_audit_head *out);

/*
 * Appends the n records at r (borrowed), in order, as n calls of
 * lw_audit_append would, in one transaction (the caller's write
 * transaction, or one of its own): the head is read once and each record
 * chained to the one before. For an answer that shows many positions (one
 * record each). All or nothing: on failure none is recorded (in the
 * caller's transaction, the caller rolls back). n = 0 does nothing.
 * Returns as lw_audit_append.
 */
enum lw_err lw_audit_append_many(struct lw_store *s,
                                 const struct lw_audit_rec *r, size_t n);

/*
 * The short form of lw_audit_append: who did action at at_ms about device
 * (NULL when none) for reason (NULL when none), every other field NULL.
 * Returns as lw_audit_append.
 */
enum lw_err lw_audit_add(struct lw_store *s, int64_t at_ms, const char *who,
                         const char *action, const char *device,
                         const char *reason);

/*
 * The head of the trail (last record's id and stored hash; id 0 and 64 '0'
 * when empty) into *out. Costs one index lookup: the daemon polls it.
 * Works on read-only handles. Returns LW_OK, LW_ERR_INVAL or a database
 * error.
 */
enum lw_err lw_audit_head(struct lw_store *s, struct lw_audit_head *out);

/*
 * Parses a head as a person copies it: "ID:HASH", "ID HASH", HASH alone
 * (id -1: found by its hash), or the JSON lienwatchd publishes
 * ({"id":ID,"hash":"HASH",...}). HASH is 64 hexadecimal digits (either
 * case; stored lowercase). Returns LW_OK or LW_ERR_INVAL.
 */
enum lw_err lw_audit_head_parse(const char *text, struct lw_audit_head *out);

/* One audit record, as lw_audit_list reports it. */
struct lw_audit_entry {
    int64_t id;          /* insertion order, increasing */
    int64_t at_ms;       /* when (UTC ms, the caller's clock) */
    const char *who;     /* identity (see struct lw_audit_rec) */
    const char *action;  /* kind of action */
    const char *device;  /* device concerned, NULL when none */
    const char *reason;  /* stated reason, NULL when none given */
    const char *role;    /* NULL when none (and in records before */
    const char *via;     /*   schema 5, which had only the six fields */
    const char *as_name; /*   above) */
    const char *os_detail;
    const char *client;
    const char *case_id;
    const char *basis;
    const char *detail;
    const char *hash;      /* its chain hash (hex), NULL if it has none */
    const char *prev_hash; /* the record before it's hash: what its own
                              hash chains to (64 '0' for the first), so a
                              record can be checked alone */
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

/* What a listing selects (lw_audit_query); zero/NULL fields select all. */
struct lw_audit_filter {
    const char *device;  /* one device's records */
    const char *who;     /* one identity's records */
    const char *action;  /* one kind of action */
    const char *case_id; /* one case's records */
    int64_t from_ms;     /* at_ms >= this (0: no bound) */
    int64_t to_ms;       /* at_ms <= this (0: no bound) */
    int64_t after_id;    /* id > this: the next page after a listed id */
    int64_t limit;       /* at most this many (0: no limit) */
};

/*
 * As lw_audit_list, for the records f selects (NULL: all), oldest first:
 * for the web service's pages and a compliance officer's questions.
 * Returns as lw_audit_list.
 */
enum lw_err lw_audit_query(struct lw_store *s, const struct lw_audit_filter *f,
                           lw_audit_cb cb, void *ctx);

/* ---- the chain ------------------------------------------------------------
 */

/*
 * The canonical content of record r with id, chained to prev (the previous
 * record's hash, LW_AUDIT_HASH_BYTES; NULL for the first record), as defined
 * above, into buf (len bytes; may be NULL with len 0). Returns the number of
 * bytes it takes: the content is complete when that is <= len.
 */
size_t lw_audit_canonical(const unsigned char *prev, int64_t id,
                          const struct lw_audit_rec *r, unsigned char *buf,
                          size_t len);

/* SHA-256 of lw_audit_canonical's content into out (32 bytes). */
void lw_audit_hash(const unsigned char *prev, int64_t id,
                   const struct lw_audit_rec *r, unsigned char *out);

/* What lw_audit_verify found wrong first. */
enum lw_audit_problem {
    LW_AUDIT_INTACT = 0,   /* every record chains; the head (if given) is in */
    LW_AUDIT_CHANGED,      /* record bad_id's content no longer matches its
                              hash (the next record still chains to it) */
    LW_AUDIT_REMOVED,      /* records from_id..to_id are missing before
                              bad_id (which chains to a hash not there) */
    LW_AUDIT_INSERTED,     /* record bad_id does not belong in the chain:
                              the record after it chains to the one before */
    LW_AUDIT_REORDERED,    /* record bad_id holds the record that belongs
                              just before record to_id */
    LW_AUDIT_UNCHAINED,    /* record bad_id has no valid hash at all */
    LW_AUDIT_MALFORMED,    /* a column of bad_id has the wrong type (a time
                              that is not an integer, a text stored as a
                              blob): written by hand */
    LW_AUDIT_BROKEN,       /* record bad_id does not chain; none of the
                              above explains it (several changes at once) */
    LW_AUDIT_HEAD_MISSING, /* the given head is past the end of the trail,
                              or its hash is in no record: records at the
                              end were removed (or the trail rewritten) */
    LW_AUDIT_HEAD_DIFFERS, /* record head.id exists with another hash: the
                              trail was rewritten from there on or before */
};

/* A short English name of p ("changed", "removed", ...; static). */
const char *lw_audit_problem_name(enum lw_audit_problem p);

/* The outcome of lw_audit_verify. */
struct lw_audit_verdict {
    enum lw_audit_problem problem; /* LW_AUDIT_INTACT when all is well */
    int64_t rows;                  /* records that chained (all of them
                                      when intact; those before bad_id) */
    struct lw_audit_head head;     /* the last record that chained: the
                                      trail's head when intact */
    int64_t bad_id;                /* the first record that does not chain
                                      (0 for the head problems) */
    int64_t from_id, to_id;        /* REMOVED: the ids missing; REORDERED:
                                      to_id as above; else 0 */
    bool head_found;               /* the given head was met in the chain */
    bool guarded;                  /* the triggers refusing UPDATE, DELETE
                                      and unchained records are in place
                                      (missing: someone with the file
                                      dropped them) */
    char detail[320];              /* one sentence on what is wrong ("" when
                                      intact) */
};

/*
 * Walks the whole trail in id order in one read snapshot, recomputing each
 * record's hash from its content and the hash before it, and stops at the
 * first record that does not chain; then looks at its neighbours to say
 * what happened to it (the problems above). When expect is given (a head
 * published or printed earlier), the record with its id (or, for id -1, a
 * record with its hash) must be in the chain with that hash: records
 * removed from the end, which leave a shorter but consistent chain, and a
 * chain recomputed after a change, are caught that way only.
 *
 * Cost: one SHA-256 over ~100-300 bytes per record (100,000 records in well
 * under a second); a second pass over the trail when a record is out of
 * place (to find where it belongs).
 *
 * Returns LW_OK when the check ran, whatever it found (*v says); LW_ERR_INVAL
 * for a NULL handle or v; LW_ERR_NOMEM; or a database error (the trail could
 * not be read: nothing is concluded).
 */
enum lw_err lw_audit_verify(struct lw_store *s,
                            const struct lw_audit_head *expect,
                            struct lw_audit_verdict *v);

#endif
