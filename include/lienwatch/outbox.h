/*
 * outbox.h - alert e-mail: the durable outbox table, the messages and the
 * storm digests. Pure core: time comes in as now_ms, no network, no logging;
 * the daemon (daemon/mail.c) does the sending and the clock.
 *
 * The outbox (schema migration 3, lib/outbox.c):
 *   - outbox       one row per mail and recipient: the complete RFC 5322
 *                  message, its state (pending, sent, failed), attempts,
 *                  next try, last error. A mail to three recipients is three
 *                  rows with the same Message-ID, so a refusal for one
 *                  recipient neither blocks nor repeats the others.
 *   - outbox_held  alerts held back for a storm digest, with the time the
 *                  digest of their kind is due.
 * lw_outbox_enqueue runs in the caller's transaction (the one that stores
 * the alert), so an alert is never committed without its mail.
 *
 * Settings come in a struct lw_outbox_opts: the [smtp] settings the outbox
 * uses and nothing else (lw_outbox_opts_from_config fills it from the
 * configuration). Below, smtp.X names the setting an option comes from.
 *
 * Storms: when more than smtp.digest_threshold alerts of one kind were
 * raised within smtp.digest_window_s (counted in the alerts table,
 * including the new one), the new alert is held instead of mailed. The
 * digest of a kind is due smtp.digest_delay_s after its oldest held alert:
 * at most that long after the threshold was crossed, and (since a digest
 * takes every held alert of its kind) at most once per delay while the
 * storm lasts. Every alert is in exactly one mail: its own or a digest. A
 * digest lists at most LW_OUTBOX_DIGEST_MAX alerts; more make several.
 *
 * Message-ID: "<alert-ID.INSTANCE@DOMAIN>" for an alert and
 * "<digest-FIRSTID.INSTANCE@DOMAIN>" for a digest, where DOMAIN is the
 * domain of smtp.from and INSTANCE a random tag the migration stores in
 * meta 'mail_instance': stable for an alert (a re-send after a crash
 * carries the same id, so mail systems can drop the copy), yet never equal
 * to a mail of another database whose alert ids start at 1 again.
 *
 * Back-off: attempt n failed temporarily (4xx, connection) -> next try
 * smtp.retry_initial_s * 2^(n-1), at most smtp.retry_max_s, never later
 * than created + smtp.max_age; a row pending at that age fails.
 *
 * Errors: functions on a store return LW_OK, LW_ERR_INVAL for a NULL
 * handle or required argument, and the database classes of store.h
 * (LW_ERR_BUSY, LW_ERR_FULL, LW_ERR_READONLY, LW_ERR_IO, LW_ERR_CORRUPT,
 * LW_ERR_NOMEM, LW_ERR_DB: "a database error" below), with the detail in
 * lw_store_errmsg ("outbox: <what>: <why>").
 *
 * Strings passed in are borrowed. Rows handed to callbacks, and the strings
 * they point to, are valid during the call only: copy what you keep. Times
 * are UTC ms since the epoch.
 */
#ifndef LIENWATCH_OUTBOX_H
#define LIENWATCH_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/alert.h"
#include "lienwatch/err.h"
#include "lienwatch/places.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"

struct lw_config; /* config.h */

/* Most alerts listed in one digest mail. */
#define LW_OUTBOX_DIGEST_MAX 1000
/* Longest kind name stored ("geofence_enter", "digest" ...), with NUL. */
#define LW_OUTBOX_KIND_LEN 32

enum lw_outbox_state {
    LW_OUTBOX_PENDING = 1, /* "pending": waiting for its next try */
    LW_OUTBOX_SENT,        /* "sent": the server accepted it */
    LW_OUTBOX_FAILED,      /* "failed": refused (5xx) or too old; kept */
};

/* "pending", "sent", "failed"; "unknown" otherwise (static strings). */
const char *lw_outbox_state_name(enum lw_outbox_state s);
/* Parses a state name into *out; LW_OK, or LW_ERR_INVAL when unknown or
 * NULL. */
enum lw_err lw_outbox_state_parse(const char *s, enum lw_outbox_state *out);

/* One outbox row (one mail to one recipient). */
struct lw_outbox_row {
    int64_t id;                    /* database id */
    bool digest;                   /* a storm digest */
    int64_t alert_id;              /* the alert; a digest's first alert */
    const char *alert_ids;         /* digest: "12,13,..."; "" otherwise */
    int nalerts;                   /* alerts in the mail (1 or more) */
    char kind[LW_OUTBOX_KIND_LEN]; /* the alert kind */
    const char *device;            /* the alert's device; "" for a digest */
    const char *recipient;         /* addr-spec */
    const char *message_id;        /* "<...>" */
    const char *subject;           /* UTF-8, as shown to people */
    const char *message;           /* the RFC 5322 message, CRLF lines */
    enum lw_outbox_state state;    /* pending, sent, failed */
    int attempts;                  /* tries so far */
    int64_t next_try_ms;           /* pending: not before */
    const char *last_error;        /* "" when none */
    int64_t created_ms;            /* enqueued */
    int64_t sent_ms;               /* accepted by the server; 0 */
    int64_t failed_ms;             /* marked failed; 0 */
    bool notified;                 /* failed: delivery_failed published */
};

/* Called per row; returns 0 to go on, non-zero to stop (not an error). */
typedef int (*lw_outbox_cb)(void *ctx, const struct lw_outbox_row *r);

/* An alert held for a digest. */
struct lw_outbox_held {
    int64_t alert_id;               /* the alert */
    char kind[LW_OUTBOX_KIND_LEN];  /* its kind */
    char device[LW_DEVICE_MAX + 1]; /* its device */
    int64_t held_ms;                /* when it was held */
    int64_t due_ms;                 /* when its kind's digest is due */
};

/* Called per held alert; returns 0 to go on, non-zero to stop. */
typedef int (*lw_outbox_held_cb)(void *ctx, const struct lw_outbox_held *h);

/* ---- settings ------------------------------------------------------------ */

/* The mail settings of the outbox. Strings are borrowed: they must stay
 * valid while the options are used. */
struct lw_outbox_opts {
    bool enabled;     /* smtp.url is set: alerts are mailed */
    const char *from; /* smtp.from: "Name <addr>" or addr */
    const char *to;   /* smtp.to: addresses for every alert, comma-separated */
    const char *route[LW_ALERT_KIND_COUNT_]; /* smtp.route_<kind>: more
                                                addresses for that kind;
                                                NULL or "" = none */
    int digest_threshold;    /* storm: more than this many alerts of a kind */
    int digest_window_s;     /* ... raised within this window, s */
    int digest_delay_s;      /* a digest is due this long after its oldest
                                held alert, s */
    int retry_initial_s;     /* delay after the first failed try, s */
    int retry_max_s;         /* the back-off's cap, s */
    int64_t max_age_ms;      /* a mail still pending this long after it was
                                queued fails */
    const char *places_zone; /* [places] timezone for the offline mail's
                                places; NULL or "": the system's */
    /* where a device usually parks, for the offline alerts of a storm
     * digest: the text lw_outbox_places_text / _format make (borrowed,
     * valid until the digest is composed), NULL when none is known; kept by
     * the caller (the alert pipeline's places checks: a digest of many
     * alerts never reads their histories). NULL places_of: none named. */
    const char *(*places_of)(void *ctx, const char *device);
    void *places_ctx; /* passed to places_of */
};

/* How many places the offline mail names, and from how many days. */
#define LW_OUTBOX_PLACES_TOP 2
#define LW_OUTBOX_PLACES_DAYS 30

/*
 * The text of the offline mail's "where it usually parks" part: the top
 * LW_OUTBOX_PLACES_TOP places (places.h) of device's fixes of the last
 * LW_OUTBOX_PLACES_DAYS days before now_ms, local time in zone (NULL or "":
 * the system's; UTC when it cannot be read), one numbered entry each with
 * position, nights, visits, usual hours, likely now and a map link; NULL
 * when there is no place (or on failure). Owned by the caller (free).
 */
char *lw_outbox_places_text(struct lw_store *s, const char *device,
                            const char *zone, int64_t now_ms);

/*
 * The same text from places already computed and ranked (pl borrowed,
 * lw_places_compute / lw_places_rank at ranked_ms; tz borrowed, NULL: UTC):
 * what the alert pipeline keeps per vehicle so that an offline mail does
 * not read history while its alert is stored. With now false the likely
 * figure says when it was ranked ("likely there at <time>") instead of
 * "now". NULL when there is no place or out of memory; owned by the
 * caller (free).
 */
char *lw_outbox_places_format(const struct lw_places *pl,
                              const struct lw_tz *tz, int64_t ranked_ms,
                              bool now);

/*
 * lw_outbox_enqueue with the offline mail's places given (places borrowed:
 * lw_outbox_places_text or _format; NULL: none known, the mail says so)
 * instead of read from the history here, in the caller's transaction.
 */
enum lw_err lw_outbox_enqueue_places(struct lw_store *s,
                                     const struct lw_outbox_opts *o,
                                     int64_t alert_id,
                                     const struct lw_alert *a,
                                     const char *places, int64_t now_ms,
                                     bool *held);

/*
 * Fills *o from the [smtp] settings of c (o borrows c's strings: valid as
 * long as c is). A NULL c gives options with mail off. NULL o: no-op.
 */
void lw_outbox_opts_from_config(struct lw_outbox_opts *o,
                                const struct lw_config *c);

/* ---- composing (pure) --------------------------------------------------- */

/* What a message needs besides its content. */
struct lw_mail_env {
    const char *from;     /* From: as configured, "Name <addr>" or addr */
    const char *to;       /* To: addr-specs, comma-separated */
    const char *instance; /* the database's tag for Message-IDs */
    int64_t now_ms;       /* Date: */
    const char *places;   /* offline: lines naming where the vehicle
                             usually parks (lw_outbox_places_text); NULL:
                             none known */
};

/* A composed message; each string owned (lw_mail_release). */
struct lw_mail {
    char *message_id; /* "<alert-42.tag@example.com>" */
    char *subject;    /* UTF-8, unencoded */
    char *message;    /* RFC 5322, CRLF lines */
};

/* Frees the strings of *m and sets them to NULL (m itself is the caller's);
 * NULL m and NULL strings are fine, so a failed compose can be released. */
void lw_mail_release(struct lw_mail *m);

/*
 * Composes the mail of one alert: headers (Date, From, To, Subject with RFC
 * 2047 when not ASCII, Message-ID from alert_id, MIME UTF-8 text/plain
 * quoted-printable) and a text saying what happened and what to do: kind,
 * time, vehicle (device, plate, VIN, description), account and days past
 * due, the fix (time, age, accuracy, OpenStreetMap link, geo: URI; for
 * offline the last fix before the silence), for offline/back_online the gap
 * and distance moved. env, a, v and acct are borrowed; v and acct may be
 * NULL (unknown). On success *out owns three new strings (free them with
 * lw_mail_release). Returns LW_OK, LW_ERR_INVAL (bad from address or
 * arguments) or LW_ERR_NOMEM; on failure *out is empty.
 */
enum lw_err lw_mail_compose_alert(const struct lw_mail_env *env,
                                  int64_t alert_id, const struct lw_alert *a,
                                  const struct lw_vehicle *v,
                                  const struct lw_account *acct,
                                  struct lw_mail *out);

/* One alert of a digest; v and acct may be NULL. */
struct lw_digest_item {
    int64_t alert_id;              /* its id */
    const struct lw_alert *a;      /* the alert */
    const struct lw_vehicle *v;    /* its vehicle, or NULL */
    const struct lw_account *acct; /* its account, or NULL */
    const char *places;            /* offline: where it usually parks
                                      (lw_outbox_places_text's form), NULL:
                                      none known */
};

/*
 * Composes a storm digest of n >= 1 alerts of one kind (items[0] gives the
 * Message-ID): it says a shared cause is likely and lists every alert with
 * its device, vehicle, account and position link in the text/plain part.
 * threshold and window_ms are the settings that made the storm (for the
 * text). Returns as lw_mail_compose_alert.
 */
enum lw_err lw_mail_compose_digest(const struct lw_mail_env *env,
                                   enum lw_alert_kind kind,
                                   const struct lw_digest_item *items, size_t n,
                                   int threshold, int64_t window_ms,
                                   struct lw_mail *out);

/*
 * Recipients of mail about kind: smtp.to, then smtp.route_<kind>, as
 * addr-specs without repeats (compared without case), comma-separated,
 * into a new string the caller frees. NULL on failure, and *e (may be NULL)
 * says why: LW_ERR_INVAL (NULL o), LW_ERR_CONFIG (an invalid address, or
 * no address at all; lw_config_validate prevents both), LW_ERR_NOMEM.
 */
char *lw_outbox_recipients(const struct lw_outbox_opts *o,
                           enum lw_alert_kind kind, enum lw_err *e);

/*
 * Delay before the try after attempts failed tries (attempts >= 1), ms:
 * retry_initial_s * 2^(attempts-1), capped at retry_max_s. o must not be
 * NULL.
 */
int64_t lw_outbox_backoff_ms(const struct lw_outbox_opts *o, int attempts);

/* True when r is pending and at least max_age_ms old at now_ms (o and r
 * must not be NULL). */
bool lw_outbox_expired(const struct lw_outbox_opts *o,
                       const struct lw_outbox_row *r, int64_t now_ms);

/* ---- the table ------------------------------------------------------------
 */

/*
 * Mails alert a (borrowed; stored under alert_id) when o->enabled: held for
 * the digest when its kind storms (see above), otherwise composed and
 * queued, one row per recipient, due at now_ms. Reads the alert's vehicle
 * and account from the registry. Runs in the caller's transaction when
 * there is one (a savepoint either way: all rows or none). *held (may be
 * NULL) says whether it was held. Queueing the same alert twice adds
 * nothing (same Message-ID and recipient). Returns LW_OK (also when mail
 * is off); LW_ERR_INVAL (NULL argument, alert without a device);
 * LW_ERR_CONFIG (no valid recipient); LW_ERR_NOMEM; or a database error.
 */
enum lw_err lw_outbox_enqueue(struct lw_store *s,
                              const struct lw_outbox_opts *o, int64_t alert_id,
                              const struct lw_alert *a, int64_t now_ms,
                              bool *held);

/*
 * Turns the held alerts of every kind whose digest is due at now_ms into
 * digest mails (queued like single ones), in one savepoint: all or none.
 * *made (may be NULL) gets the number of digests (0 on failure), *next_ms
 * (may be NULL) the next due time of a digest, INT64_MAX when none is held.
 * Returns LW_OK, LW_ERR_INVAL, LW_ERR_CONFIG, LW_ERR_NOMEM or a database
 * error.
 */
enum lw_err lw_outbox_digest_run(struct lw_store *s,
                                 const struct lw_outbox_opts *o, int64_t now_ms,
                                 int *made, int64_t *next_ms);

/* Earliest next_try_ms of the pending rows into *next_ms, INT64_MAX when
 * none. Returns LW_OK, LW_ERR_INVAL or a database error. */
enum lw_err lw_outbox_next_due(struct lw_store *s, int64_t *next_ms);

/* Calls cb for the pending rows due at now_ms (next_try_ms <= now_ms),
 * oldest due first, at most limit of them (limit <= 0: all). Returns LW_OK
 * (also when cb stopped early), LW_ERR_INVAL or a database error. */
enum lw_err lw_outbox_due(struct lw_store *s, int64_t now_ms, int limit,
                          lw_outbox_cb cb, void *ctx);

/* Calls cb once with row id (its return value is ignored). Returns LW_OK,
 * LW_ERR_NOTFOUND when there is no such row (cb not called), LW_ERR_INVAL or
 * a database error. */
enum lw_err lw_outbox_get(struct lw_store *s, int64_t id, lw_outbox_cb cb,
                          void *ctx);

/* Which rows lw_outbox_list reports. */
struct lw_outbox_filter {
    int state;              /* an enum lw_outbox_state, 0 = any */
    bool unnotified_failed; /* failed rows whose failure is unpublished */
    int limit;              /* newest this many, oldest first; 0 = all */
};

/* Calls cb for the rows matching f (NULL = all), oldest first. Works on a
 * read-only handle. Returns as lw_outbox_due. */
enum lw_err lw_outbox_list(struct lw_store *s, const struct lw_outbox_filter *f,
                           lw_outbox_cb cb, void *ctx);

/* Calls cb for the held alerts, oldest first. Works on a read-only handle.
 * Returns as lw_outbox_due. */
enum lw_err lw_outbox_held_list(struct lw_store *s, lw_outbox_held_cb cb,
                                void *ctx);

/* The row was accepted by the server at now_ms: sent (attempts + 1, error
 * cleared). Returns LW_OK, LW_ERR_NOTFOUND when the row is not pending
 * (unknown, already sent or failed), LW_ERR_INVAL or a database error. */
enum lw_err lw_outbox_mark_sent(struct lw_store *s, int64_t id, int64_t now_ms);

/*
 * A try failed temporarily at now_ms with error: attempts + 1 and the next
 * try after lw_outbox_backoff_ms, but never after the row's maximum age; a
 * row already that old is failed instead. In one savepoint. *state (may be
 * NULL) says which, *next_try_ms (may be NULL) when (0 when failed).
 * error (borrowed, may be NULL) is stored as the row's last error. Returns
 * LW_OK, LW_ERR_NOTFOUND when the row is not pending, LW_ERR_INVAL or a
 * database error.
 */
enum lw_err lw_outbox_mark_retry(struct lw_store *s,
                                 const struct lw_outbox_opts *o, int64_t id,
                                 int64_t now_ms, const char *error,
                                 enum lw_outbox_state *state,
                                 int64_t *next_try_ms);

/* Failed for good at now_ms (5xx, too old): attempts + count_attempt,
 * error (borrowed, may be NULL) kept as the last error. Returns as
 * lw_outbox_mark_sent. */
enum lw_err lw_outbox_mark_failed(struct lw_store *s, int64_t id,
                                  int64_t now_ms, bool count_attempt,
                                  const char *error);

/* The delivery_failed event of failed row id was published. Returns LW_OK
 * (also for an unknown id), LW_ERR_INVAL or a database error. */
enum lw_err lw_outbox_mark_notified(struct lw_store *s, int64_t id);

/* Counts rows by state and held alerts into the non-NULL pointers. Returns
 * LW_OK, LW_ERR_INVAL or a database error (the counts untouched). */
enum lw_err lw_outbox_counts(struct lw_store *s, int64_t *pending,
                             int64_t *sent, int64_t *failed, int64_t *held);

#endif
