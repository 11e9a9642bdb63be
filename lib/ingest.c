/*
 * ingest.c - see ingest.h.
 *
 * Records wait in a growable array until lw_ingest_flush. Counter changes
 * are kept as deltas beside totals; a flush writes the deltas in the same
 * transaction as the records, so the persisted counters always agree with
 * the persisted fixes. When a commit fails, both records and deltas stay.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/ingest.h"
#include "lienwatch/jump.h"
#include "lienwatch/suspect.h"

/* Message types without a position that get their own counter; any other
 * type is counted as "ignored.other" so a hostile payload cannot create
 * unbounded counter names. */
static const char *const known_types[] = {
    "lwt",    "transition", "waypoint", "waypoints",     "card",
    "status", "steps",      "cmd",      "beacon",        "configuration",
    "encrypted", "request", "dump",     "tpv_nofix",     "sky",
    "gst",    "att",        "version",  "devices",       "device",
    "watch",  "toff",       "pps",      "error",         "imu",
    "other",
};
#define NTYPES (sizeof(known_types) / sizeof(known_types[0]))
#define TYPE_OTHER (NTYPES - 1)

/* Initial capacity of the pending array. */
#define PENDING_INITIAL 256

static const char *const fixed_names[LW_CNT_COUNT_] = {
    [LW_CNT_RECEIVED] = "received",     [LW_CNT_STORED] = "stored",
    [LW_CNT_DUPLICATES] = "duplicates", [LW_CNT_LATE] = "late",
    [LW_CNT_HEARD] = "heard",           [LW_CNT_ACCOUNTS] = "accounts",
    [LW_CNT_SUSPECT] = "suspect",
    [LW_CNT_REJECTED] = NULL, /* derived: sum of rejected.* */
    [LW_CNT_PAID_OFF] = "ignored.paid_off",
};

struct record {
    bool heard_only;  /* no position: only marks the device as heard */
    bool judged;      /* the flush judged it; before is set */
    struct lw_jump_ruling ruling; /* the flush's judgement (jump.h) */
    struct lw_jump_state before;  /* judged: its judge before it (a failed
                                     flush puts it back) */
    struct lw_fix fix; /* the fix (device and recv_time_ms when heard_only) */
};

/* One device's jump judge (jump.h), in struct jmap. */
struct jentry {
    char *device;            /* owned copy of the id; NULL: empty slot */
    struct lw_jump_state st; /* the judge's state */
};

/* Devices' jump judges: open addressing, linear probing, power-of-two
 * size, never shrinks (one entry per device that reported). */
struct jmap {
    struct jentry *slots; /* cap entries */
    size_t cap;           /* 0 or a power of two */
    size_t n;             /* used */
};

/* First size of the jump map; it doubles past half full. */
#define JMAP_INITIAL 64

struct counters {
    uint64_t fixed[LW_CNT_COUNT_];  /* by enum lw_counter */
    uint64_t rejected[LW_REJ_COUNT]; /* by enum lw_reject */
    uint64_t ignored[NTYPES];       /* by index in known_types */
};

struct lw_ingest {
    struct lw_store *store;                          /* borrowed */
    char topic_owntracks[LW_INGEST_PATTERN_MAX + 1]; /* "" = off */
    char topic_fix[LW_INGEST_PATTERN_MAX + 1];       /* "" = off */
    char topic_account[LW_INGEST_PATTERN_MAX + 1];   /* "" = off */
    int batch_max;                                   /* flush advice */
    struct lw_decode_opts decode;                    /* decoder limits */
    struct record *pending; /* records awaiting commit */
    size_t npending;        /* used entries */
    size_t cap;             /* allocated entries */
    struct counters total;  /* since creation, committed or not */
    struct counters delta;  /* not yet persisted */
    bool dirty;             /* delta has something */
    lw_ingest_stored_cb stored_cb; /* after-commit callback */
    void *stored_ctx;              /* its context */
    double max_speed_mps;          /* jump limit (jump.h); 0 = off */
    struct jmap jumps;             /* per-device judges */
};

enum lw_err lw_ingest_new(struct lw_ingest **out, struct lw_store *store,
                          const struct lw_ingest_opts *opts, char *err,
                          size_t errlen)
{
    struct lw_ingest *in;

    if (!out || !store || !opts) {
        lw_seterr(err, errlen, "lw_ingest_new: missing argument");
        return LW_ERR_INVAL;
    }
    const char *pats[] = {opts->topic_owntracks, opts->topic_fix,
                          opts->topic_account};
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        if (pats[i] && strlen(pats[i]) > LW_INGEST_PATTERN_MAX) {
            lw_seterr(err, errlen, "topic pattern too long: %.40s...",
                      pats[i]);
            return LW_ERR_INVAL;
        }
    }
    in = calloc(1, sizeof(*in));
    if (!in)
        goto out_nomem;
    in->pending = malloc(PENDING_INITIAL * sizeof(*in->pending));
    if (!in->pending)
        goto out_free_in;
    in->cap = PENDING_INITIAL;
    in->store = store;
    snprintf(in->topic_owntracks, sizeof(in->topic_owntracks), "%s",
             opts->topic_owntracks ? opts->topic_owntracks : "");
    snprintf(in->topic_fix, sizeof(in->topic_fix), "%s",
             opts->topic_fix ? opts->topic_fix : "");
    snprintf(in->topic_account, sizeof(in->topic_account), "%s",
             opts->topic_account ? opts->topic_account : "");
    lw_ingest_set_limits(in, opts->batch_max, &opts->decode);
    *out = in;
    return LW_OK;

out_free_in:
    free(in);
out_nomem:
    lw_seterr(err, errlen, "out of memory");
    return LW_ERR_NOMEM;
}

/* Forgets every device's judge (they start again from the store). */
static void jclear(struct jmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].device);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

void lw_ingest_free(struct lw_ingest *in)
{
    if (!in)
        return;
    jclear(&in->jumps);
    free(in->pending);
    free(in);
}

void lw_ingest_set_limits(struct lw_ingest *in, int batch_max,
                          const struct lw_decode_opts *decode)
{
    in->batch_max = batch_max > 0 ? batch_max : 1;
    if (decode)
        in->decode = *decode;
    else
        lw_decode_opts_init(&in->decode);
}

void lw_ingest_set_max_speed(struct lw_ingest *in, double max_speed_mps)
{
    if (!in)
        return;
    if (!(max_speed_mps > 0) || !isfinite(max_speed_mps))
        max_speed_mps = 0;
    /* judges are not fed while judging is off: when it resumes they start
     * again from the store's last-known fix, the newest accepted one */
    if (max_speed_mps > 0 && !(in->max_speed_mps > 0))
        jclear(&in->jumps);
    in->max_speed_mps = max_speed_mps;
}

/* FNV-1a of s. */
static size_t jhash(const char *s)
{
    uint32_t h = UINT32_C(2166136261);

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT32_C(16777619);
    return h;
}

/* The slot of device in m: its entry, or the empty slot where it goes. */
static struct jentry *jslot(const struct jmap *m, const char *device)
{
    size_t i = jhash(device) & (m->cap - 1);

    while (m->slots[i].device && strcmp(m->slots[i].device, device) != 0)
        i = (i + 1) & (m->cap - 1);
    return &m->slots[i];
}

/* Doubles m (or makes it); false when out of memory. */
static bool jgrow(struct jmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : JMAP_INITIAL;
    struct jmap n = {.slots = calloc(ncap, sizeof(struct jentry)),
                     .cap = ncap,
                     .n = m->n};

    if (!n.slots)
        return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].device)
            *jslot(&n, m->slots[i].device) = m->slots[i];
    free(m->slots);
    *m = n;
    return true;
}

/*
 * The judge of device, created (seeded with the store's last-known fix)
 * when new; NULL when out of memory.
 */
static struct lw_jump_state *judge_of(struct lw_ingest *in, const char *device)
{
    struct jmap *m = &in->jumps;
    struct jentry *e;
    struct lw_fix last;

    if (m->cap && (e = jslot(m, device))->device)
        return &e->st;
    if ((m->n + 1) * 2 > m->cap && !jgrow(m))
        return NULL;
    e = jslot(m, device);
    e->device = strdup(device);
    if (!e->device)
        return NULL;
    m->n++;
    memset(&e->st, 0, sizeof(e->st));
    /* after a restart: the stored last-known fix is the accepted one (a
     * failed read leaves the judge empty: the next fix is accepted) */
    if (lw_store_last_fix(in->store, device, &last) == LW_OK)
        lw_jump_seed(&e->st, &last);
    return &e->st;
}

void lw_ingest_set_stored_cb(struct lw_ingest *in, lw_ingest_stored_cb cb,
                             void *ctx)
{
    in->stored_cb = cb;
    in->stored_ctx = ctx;
}

static void count_fixed(struct lw_ingest *in, enum lw_counter c, uint64_t n)
{
    in->total.fixed[c] += n;
    in->delta.fixed[c] += n;
    in->dirty = true;
}

/* Index of a message type in known_types (case-insensitive). */
static size_t type_index(const char *type)
{
    char low[24];
    size_t i;

    for (i = 0; type[i] && i < sizeof(low) - 1; i++)
        low[i] = (char)tolower((unsigned char)type[i]);
    low[i] = '\0';
    if (strcmp(low, "tpv") == 0) /* a TPV without a fix */
        snprintf(low, sizeof(low), "tpv_nofix");
    for (i = 0; i < NTYPES; i++) {
        if (strcmp(low, known_types[i]) == 0)
            return i;
    }
    return TYPE_OTHER;
}

static void count_fixed(struct lw_ingest *in, enum lw_counter c, uint64_t n);

/* Appends a record; false when memory ran out (the caller counts it). */
static bool push(struct lw_ingest *in, const struct lw_fix *f, bool heard)
{
    if (in->npending == in->cap) {
        size_t ncap = in->cap * 2;
        struct record *n = realloc(in->pending, ncap * sizeof(*n));
        if (!n)
            return false;
        in->pending = n;
        in->cap = ncap;
    }
    struct record *r = &in->pending[in->npending];

    memset(r, 0, sizeof(*r));
    r->heard_only = heard;
    r->fix = *f;
    in->npending++;
    return true;
}

static void reject(struct lw_ingest *in, struct lw_ingest_result *res,
                   enum lw_reject why)
{
    res->reject = why;
    in->total.rejected[why]++;
    in->delta.rejected[why]++;
    in->total.fixed[LW_CNT_REJECTED]++;
    in->dirty = true;
}

/* True when topic matches a pattern but the id it names does not fit
 * (lw_topic_match then fails for the id's length alone). */
static bool too_long_id(const struct lw_ingest *in, const char *topic)
{
    const char *pats[] = {in->topic_owntracks, in->topic_fix,
                          in->topic_account};
    char id[LW_DEVICE_MAX + 1];

    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        if (pats[i][0] && lw_topic_match(pats[i], topic, NULL, 0) &&
            !lw_topic_match(pats[i], topic, id, sizeof(id)))
            return true;
    }
    return false;
}

void lw_ingest_message(struct lw_ingest *in, const char *topic,
                       const void *payload, size_t len, int64_t now_ms,
                       struct lw_ingest_result *res)
{
    enum lw_source src;
    struct lw_decoded d;
    enum lw_reject why;
    char id[LW_DEVICE_MAX + 1];

    memset(res, 0, sizeof(*res));
    count_fixed(in, LW_CNT_RECEIVED, 1);
    /* a topic of the right shape whose id is too long for us is a bad
     * device, not an unknown topic */
    if (too_long_id(in, topic)) {
        snprintf(res->detail, sizeof(res->detail),
                 "the device or account id in topic '%.80s...' is longer "
                 "than %d bytes",
                 topic, LW_DEVICE_MAX);
        reject(in, res, LW_REJ_BAD_DEVICE);
        goto out;
    }
    if (in->topic_owntracks[0] &&
        lw_topic_match(in->topic_owntracks, topic, id, sizeof(id))) {
        src = LW_SRC_OWNTRACKS;
    } else if (in->topic_fix[0] &&
               lw_topic_match(in->topic_fix, topic, id, sizeof(id))) {
        src = LW_SRC_TPV;
    } else if (in->topic_account[0] &&
               lw_topic_match(in->topic_account, topic, id, sizeof(id))) {
        src = LW_SRC_ACCOUNT;
    } else {
        snprintf(res->detail, sizeof(res->detail),
                 "topic '%.80s' matches no subscription pattern (or its id "
                 "is longer than %d)",
                 topic, LW_DEVICE_MAX);
        reject(in, res, LW_REJ_UNKNOWN_TOPIC);
        goto out;
    }
    lw_copy(res->device, sizeof(res->device), id);
    why = lw_decode(src, id, payload, len, now_ms, &in->decode, &d,
                    res->detail, sizeof(res->detail));
    if (why != LW_REJ_NONE) {
        reject(in, res, why);
        goto out;
    }
    res->kind = d.kind;
    switch (d.kind) {
    case LW_MSG_FIX:
        if (!push(in, &d.fix, false)) {
            snprintf(res->detail, sizeof(res->detail),
                     "out of memory queueing the fix");
            reject(in, res, LW_REJ_TOO_LARGE);
        }
        break;
    case LW_MSG_ALIVE: {
        struct lw_fix f;
        size_t t = type_index(d.type);
        lw_fix_init(&f);
        lw_copy(f.device, sizeof(f.device), id);
        f.recv_time_ms = now_ms;
        in->total.ignored[t]++;
        in->delta.ignored[t]++;
        count_fixed(in, LW_CNT_HEARD, 1);
        (void)push(in, &f, true); /* losing a heard mark is harmless */
        break;
    }
    case LW_MSG_ACCOUNT:
        res->account = d.account;
        count_fixed(in, LW_CNT_ACCOUNTS, 1);
        break;
    }
out:
    res->flush_now = in->npending >= (size_t)in->batch_max;
}

/* Writes every non-zero delta; the caller holds the transaction. */
static enum lw_err write_counters(struct lw_ingest *in,
                                  const struct counters *d)
{
    char name[64];
    enum lw_err e;

    for (int i = 0; i < LW_CNT_COUNT_; i++) {
        if (!d->fixed[i] || !fixed_names[i])
            continue;
        e = lw_store_counter_add(in->store, fixed_names[i],
                                 (int64_t)d->fixed[i]);
        if (e != LW_OK)
            return e;
    }
    for (int i = 1; i < LW_REJ_COUNT; i++) {
        if (!d->rejected[i])
            continue;
        snprintf(name, sizeof(name), "rejected.%s", lw_reject_name(i));
        e = lw_store_counter_add(in->store, name, (int64_t)d->rejected[i]);
        if (e != LW_OK)
            return e;
    }
    for (size_t i = 0; i < NTYPES; i++) {
        if (!d->ignored[i])
            continue;
        snprintf(name, sizeof(name), "ignored.%s", known_types[i]);
        e = lw_store_counter_add(in->store, name, (int64_t)d->ignored[i]);
        if (e != LW_OK)
            return e;
    }
    return LW_OK;
}

/*
 * After a rollback: every judge goes back to its state before the flush
 * (the records are judged again by the next one). Newest first, so that a
 * device judged several times ends at its first "before".
 */
static void unjudge(struct lw_ingest *in)
{
    for (size_t i = in->npending; i > 0; i--) {
        struct record *r = &in->pending[i - 1];

        if (r->judged && in->jumps.cap) {
            struct jentry *j = jslot(&in->jumps, r->fix.device);

            if (j->device)
                j->st = r->before;
        }
        r->judged = false;
    }
}

enum lw_err lw_ingest_flush(struct lw_ingest *in, char *err, size_t errlen)
{
    struct counters d;
    enum lw_put_result *results = NULL;
    uint64_t stored = 0, dups = 0, late = 0, ended = 0, suspect = 0;
    enum lw_err e;

    if (in->npending == 0 && !in->dirty)
        return LW_OK;
    if (in->stored_cb && in->npending) {
        results = malloc(in->npending * sizeof(*results));
        if (!results) {
            lw_seterr(err, errlen, "out of memory");
            return LW_ERR_NOMEM;
        }
    }
    e = lw_store_begin(in->store);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "cannot begin transaction: %s",
                  lw_store_errmsg(in->store));
        goto out_free;
    }
    for (size_t i = 0; i < in->npending; i++) {
        struct record *r = &in->pending[i];
        enum lw_put_result pr = LW_PUT_DUPLICATE;

        r->judged = false;
        memset(&r->ruling, 0, sizeof(r->ruling));
        if (r->heard_only) {
            e = lw_store_heard(in->store, r->fix.device, r->fix.recv_time_ms);
        } else {
            /* the judge is seeded from the last-known fix before this
             * fix can become it */
            struct lw_jump_state *st = in->max_speed_mps > 0
                                           ? judge_of(in, r->fix.device)
                                           : NULL;

            e = lw_store_put_fix(in->store, &r->fix, &pr);
            if (e == LW_OK && st && pr == LW_PUT_NEWEST) {
                r->before = *st;
                r->judged = true;
                r->ruling.verdict =
                    lw_jump_judge(st, &r->fix, in->max_speed_mps,
                                  LW_JUMP_MAX_ACCURACY_M, &r->ruling.info);
                if (r->ruling.verdict == LW_JUMP_SUSPECT) {
                    e = lw_suspect_mark(in->store, r->fix.device,
                                        r->fix.fix_time_ms,
                                        LW_JUMP_SUSPECT_NAME,
                                        r->before.has_accepted
                                            ? r->before.accepted.fix_time_ms
                                            : 0);
                    suspect++;
                }
            }
            stored += pr != LW_PUT_DUPLICATE && pr != LW_PUT_ENDED;
            dups += pr == LW_PUT_DUPLICATE;
            ended += pr == LW_PUT_ENDED;
            late += pr == LW_PUT_LATE;
        }
        if (e != LW_OK) {
            lw_seterr(err, errlen, "cannot store a fix of '%s': %s",
                      r->fix.device, lw_store_errmsg(in->store));
            goto out_rollback;
        }
        if (results)
            results[i] = r->heard_only ? 0 : pr;
    }
    d = in->delta;
    d.fixed[LW_CNT_SUSPECT] += suspect;
    d.fixed[LW_CNT_STORED] += stored;
    d.fixed[LW_CNT_DUPLICATES] += dups;
    d.fixed[LW_CNT_LATE] += late;
    d.fixed[LW_CNT_PAID_OFF] += ended;
    e = write_counters(in, &d);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "cannot update counters: %s",
                  lw_store_errmsg(in->store));
        goto out_rollback;
    }
    e = lw_store_commit(in->store);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "commit failed: %s",
                  lw_store_errmsg(in->store));
        goto out_rollback;
    }
    in->total.fixed[LW_CNT_SUSPECT] += suspect;
    in->total.fixed[LW_CNT_STORED] += stored;
    in->total.fixed[LW_CNT_DUPLICATES] += dups;
    in->total.fixed[LW_CNT_LATE] += late;
    in->total.fixed[LW_CNT_PAID_OFF] += ended;
    memset(&in->delta, 0, sizeof(in->delta));
    in->dirty = false;
    if (results) {
        for (size_t i = 0; i < in->npending; i++) {
            if (!in->pending[i].heard_only)
                in->stored_cb(in->stored_ctx, &in->pending[i].fix,
                              results[i], &in->pending[i].ruling);
        }
    }
    in->npending = 0;
    free(results);
    return LW_OK;

out_rollback:
    (void)lw_store_rollback(in->store);
    unjudge(in);
out_free:
    free(results);
    return e;
}

size_t lw_ingest_pending(const struct lw_ingest *in)
{
    return in->npending;
}

void lw_ingest_each_pending(const struct lw_ingest *in,
                            lw_ingest_pending_cb cb, void *ctx)
{
    for (size_t i = 0; i < in->npending; i++)
        cb(ctx, &in->pending[i].fix, in->pending[i].heard_only);
}

enum lw_err lw_ingest_requeue(struct lw_ingest *in, const struct lw_fix *f,
                              bool heard_only)
{
    if (!in || !f || !f->device[0])
        return LW_ERR_INVAL;
    return push(in, f, heard_only) ? LW_OK : LW_ERR_NOMEM;
}

bool lw_ingest_dirty(const struct lw_ingest *in)
{
    return in->dirty || in->npending > 0;
}

uint64_t lw_ingest_counter(const struct lw_ingest *in, enum lw_counter c)
{
    if ((int)c < 0 || c >= LW_CNT_COUNT_)
        return 0;
    return in->total.fixed[c];
}

uint64_t lw_ingest_rejected(const struct lw_ingest *in, enum lw_reject r)
{
    if ((int)r < 0 || r >= LW_REJ_COUNT)
        return 0;
    return in->total.rejected[r];
}
