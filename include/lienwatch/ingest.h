/*
 * ingest.h - from MQTT message to committed fix: routing, decoding,
 * batching, counters.
 *
 * Pure core (no clock, no log, no network): the daemon hands each message
 * in with the receive time and decides when to flush (timer or batch full).
 * A batch is committed in one transaction; when the commit fails the batch
 * stays pending (nothing is dropped) and the caller should stop reading
 * until a later flush succeeds.
 *
 * Counters (persisted in the store's counters table at each flush, so
 * `lienwatch stats` is current within one commit interval):
 *   received        every message handed in
 *   stored          distinct fixes committed
 *   duplicates      fixes already stored (same device and fix time)
 *   late            fixes older than the device's last-known fix (stored)
 *   heard           messages without a position (device alive)
 *   accounts        account status messages accepted
 *   suspect         fixes flagged as a jump (see lw_ingest_set_max_speed)
 *   rejected.<why>  per enum lw_reject name
 *   ignored.<type>  messages without a position, per message type
 */
#ifndef LIENWATCH_INGEST_H
#define LIENWATCH_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/decode.h"
#include "lienwatch/err.h"
#include "lienwatch/jump.h"
#include "lienwatch/store.h"

struct lw_ingest; /* opaque */

/* Longest subscription pattern, without the NUL. */
#define LW_INGEST_PATTERN_MAX 512

struct lw_ingest_opts {
    const char *topic_owntracks; /* pattern ("" = off); copied */
    const char *topic_fix;       /* pattern ("" = off); copied */
    const char *topic_account;   /* pattern ("" = off); copied */
    int batch_max;               /* flush advised at this many records */
    struct lw_decode_opts decode; /* limits for the decoders */
};

/* What one message turned into. */
struct lw_ingest_result {
    enum lw_reject reject;       /* LW_REJ_NONE when accepted */
    enum lw_msg_kind kind;       /* when accepted */
    char device[LW_DEVICE_MAX + 1]; /* device (or account) id, may be "" */
    char detail[256];            /* rejection detail, for the log */
    struct lw_account_update account; /* when kind == LW_MSG_ACCOUNT */
    bool flush_now;              /* the batch is full: flush before more */
};

/* Fixed counters, indexes for lw_ingest_counter. */
enum lw_counter {
    LW_CNT_RECEIVED = 0,
    LW_CNT_STORED,
    LW_CNT_DUPLICATES,
    LW_CNT_LATE,
    LW_CNT_HEARD,
    LW_CNT_ACCOUNTS,
    LW_CNT_SUSPECT, /* fixes flagged suspect (a jump, jump.h) */
    LW_CNT_REJECTED, /* sum over reasons */
    LW_CNT_PAID_OFF, /* fixes of ended loans, not stored (ignored.paid_off) */
    LW_CNT_COUNT_
};

/*
 * Called for every record of a batch after it was committed. j (borrowed)
 * is the jump judgement made when f was stored (LW_JUMP_OK when f was not
 * judged: a duplicate, a late fix, a paid-off device): the alert engine
 * acts on it, it does not judge again.
 */
typedef void (*lw_ingest_stored_cb)(void *ctx, const struct lw_fix *f,
                                    enum lw_put_result r,
                                    const struct lw_jump_ruling *j);

/*
 * Creates an ingester writing into store (borrowed; must outlive it).
 * Returns LW_OK and *out (free with lw_ingest_free), or an error in err.
 */
enum lw_err lw_ingest_new(struct lw_ingest **out, struct lw_store *store,
                          const struct lw_ingest_opts *opts, char *err,
                          size_t errlen);

/* Frees the ingester; pending records are lost (flush first). NULL ok. */
void lw_ingest_free(struct lw_ingest *in);

/* Replaces limits and batch size (patterns are kept). */
void lw_ingest_set_limits(struct lw_ingest *in, int batch_max,
                          const struct lw_decode_opts *decode);

/*
 * Judges fixes for jumps (jump.h) at max_speed_mps (<= 0: off, the
 * default). The one judgement of a fix is made in the flush that stores it,
 * only for a fix the store took as its device's newest (a duplicate, a
 * late fix or one of a paid-off device is not judged and changes no
 * judge): a suspect fix is stored flagged (suspect.h) and does not become
 * its device's last-known fix; the verdict goes to the stored callback
 * with the fix. Each device's judge starts from the store's last-known
 * fix; a failed flush puts the judges back as they were before it.
 */
void lw_ingest_set_max_speed(struct lw_ingest *in, double max_speed_mps);

/* Sets the after-commit callback (NULL to clear). */
void lw_ingest_set_stored_cb(struct lw_ingest *in, lw_ingest_stored_cb cb,
                             void *ctx);

/*
 * Handles one message: topic (NUL-terminated) and payload (len bytes, need
 * not be terminated) are borrowed. now_ms is the receive time. Fills *res.
 * Never fails: a bad message is a counted rejection.
 */
void lw_ingest_message(struct lw_ingest *in, const char *topic,
                       const void *payload, size_t len, int64_t now_ms,
                       struct lw_ingest_result *res);

/*
 * Commits pending records and counter changes in one transaction. On
 * failure everything stays pending, err says why, and the return is the
 * error. Returns LW_OK with nothing to do as well.
 */
enum lw_err lw_ingest_flush(struct lw_ingest *in, char *err, size_t errlen);

/* Records waiting for the next flush (fixes and heard marks). */
size_t lw_ingest_pending(const struct lw_ingest *in);

/* Receives one waiting record (borrowed for the call): a fix, or with
 * heard_only a mark of f->device heard at f->recv_time_ms. */
typedef void (*lw_ingest_pending_cb)(void *ctx, const struct lw_fix *f,
                                     bool heard_only);

/* Hands every record waiting for the next flush to cb, oldest first (what
 * a stop that cannot commit writes to its spill file). */
void lw_ingest_each_pending(const struct lw_ingest *in,
                            lw_ingest_pending_cb cb, void *ctx);

/*
 * Puts a record back in the batch, as if it had just been received and
 * decoded (a spill file merged at start): f is copied; with heard_only only
 * f->device and f->recv_time_ms count. Counts nothing as received. Returns
 * LW_OK, LW_ERR_INVAL (NULL or empty device) or LW_ERR_NOMEM.
 */
enum lw_err lw_ingest_requeue(struct lw_ingest *in, const struct lw_fix *f,
                              bool heard_only);

/* True when counters changed since the last flush (stats want a commit). */
bool lw_ingest_dirty(const struct lw_ingest *in);

/* Totals since lw_ingest_new (not the database's lifetime totals). */
uint64_t lw_ingest_counter(const struct lw_ingest *in, enum lw_counter c);
uint64_t lw_ingest_rejected(const struct lw_ingest *in, enum lw_reject r);

#endif
