/*
 * alert.c - the alert state machine of alert.h: per-device state in a hash
 * table, sparse per-fence state, a deadline heap for offline and dwell.
 *
 * Layout and why:
 *   - Devices, accounts and fence links live in chained hash tables keyed by
 *     strings (struct htab). A device record is one allocation holding its
 *     id, its newest fix and a pointer to its fence states; nothing per
 *     device grows with the number of fences.
 *   - Fence state is SPARSE: a device holds a struct fstate only for fences
 *     where it is confirmed on the bad side, has a run of fixes pending, or
 *     carries a late-excursion marker. With 10,000 fences and 100,000
 *     vehicles almost every (vehicle, fence) pair is "good side, nothing
 *     pending", which is what no entry means. States are keyed by the
 *     fence's user tag so they survive a fence reload that keeps tags.
 *   - Which fences a fix is tested against: keep_out fences through the
 *     fence set's R-tree (lw_fenceset_which), keep_in fences applicable to
 *     the vehicle one by one (global ones, then those linked to its device
 *     or account), and finally the fences the device has state for (a
 *     keep_out fence it just left is not reported by the index, but its
 *     pending run or confirmed stay must see the fix). A per-fence stamp
 *     makes sure no fence is evaluated twice for one fix, which would count
 *     one fix twice towards a confirmation.
 *   - Deadlines (offline, dwell) exist only for watched devices. Each
 *     device's earliest one is cached and kept in a binary min-heap, so
 *     lw_engine_tick(NULL) costs O(k log n) for k due devices and returns
 *     the next deadline at once, whatever the fleet size.
 *
 * Invariants:
 *   - every fstate of a device refers to a fence of the current set, of the
 *     same kind, applicable to the device (prune_dev restores this whenever
 *     fences, links or the registration change);
 *   - an fstate has FS_BAD, or run > 0, or late_run > 0, or FS_LATE_DONE;
 *     otherwise it is removed (drop_if_idle);
 *   - a device is in the heap exactly when its deadline_ms < INT64_MAX, and
 *     deadline_ms is what dev_deadline() computes (reschedule after every
 *     change);
 *   - while a device is watched, FS_BAD implies FS_ALERTED.
 *
 * Times: now_ms and receive times are the daemon's clock; fix times are the
 * device's. Offline is measured on our clock only; a dwell starts at the
 * fix time of the first fix of the confirming run (when the vehicle was
 * first seen inside) and ends on our clock, so a stay uploaded late still
 * counts from when it began.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/alert.h"
#include "lienwatch/geo.h"
#include "lienwatch/jump.h"

/* Initial bucket count of a hash table (a power of two). */
#define HT_MIN_BUCKETS 16
/* Initial capacity of per-device fence-state arrays and link lists. */
#define SMALL_CAP 2
/* Initial capacity of the deadline heap. */
#define HEAP_MIN_CAP 16
/* 32-bit FNV-1a parameters. */
#define FNV_OFFSET UINT32_C(2166136261)
#define FNV_PRIME UINT32_C(16777619)
/* heap_idx of a device that is not in the heap. */
#define NOT_IN_HEAP UINT32_MAX
/* "No such fence" from tag_lookup. */
#define NO_FENCE SIZE_MAX

/* OwnTracks trigger characters that raise alerts. */
#define TRIGGER_POWER_CUT 'e'
#define TRIGGER_TOW '!'
#define TRIGGER_LOW_BATTERY '9'

/* Bits of struct fstate.flags. */
#define FS_BAD 0x01u        /* confirmed on the bad side of the fence */
#define FS_ALERTED 0x02u    /* the exit/enter alert of this stay is raised */
#define FS_DWELL_DONE 0x04u /* the dwell alert of this stay is raised */
#define FS_LATE_DONE 0x08u  /* a late excursion was reported (horizon_ms) */

/* Bits of struct dev.flags. */
#define DEV_REGISTERED 0x001u   /* lw_engine_set_vehicle was called */
#define DEV_HEARD 0x002u        /* a message was received (base_ms) */
#define DEV_HAS_NEWEST 0x004u   /* newest holds a fix */
#define DEV_WATCHED 0x008u      /* watched, as of the last refresh */
#define DEV_OFFLINE_DONE 0x010u /* an offline alert is open (raised) */
#define DEV_TRIG_POWER 0x020u   /* in a run of power_cut triggers */
#define DEV_TRIG_TOW 0x040u     /* in a run of tow triggers */
#define DEV_TRIG_BATTERY 0x080u /* in a run of low_battery triggers */
#define DEV_HAS_SUSPECT 0x100u  /* suspect holds a fix kept aside */
#define DEV_JUMP_ALERTED 0x200u /* jump_alert_ms holds the last gps_jump */
#define DEV_HAS_STAY 0x400u     /* stay_* hold where the car stopped */
#define DEV_PARKED_DONE 0x800u  /* parked_long of this stay raised */

/* Hash-table link, first member of every hashed record. */
struct hent {
    struct hent *next; /* next record in the same bucket */
    uint32_t hash;     /* hash_str of the record's key */
};

/*
 * Chained hash table of records that start with a struct hent and keep their
 * NUL-terminated key key_off bytes from their start. Never shrinks; records
 * are only removed all at once (ht_free).
 */
struct htab {
    struct hent **b; /* mask + 1 buckets */
    size_t mask;     /* bucket count - 1 (a power of two minus one) */
    size_t n;        /* records held */
    size_t key_off;  /* offset of the key inside a record */
};

/* The newest fix of a device, without the device id (held once, in dev). */
struct cfix {
    int64_t fix_time_ms;  /* the device's time of the fix */
    int64_t recv_time_ms; /* our clock when it arrived */
    double lat_deg;       /* latitude, degrees */
    double lon_deg;       /* longitude, degrees */
    double speed_mps;     /* NAN if unknown */
    double course_deg;    /* NAN if unknown */
    double accuracy_m;    /* NAN if unknown */
    double alt_m;         /* NAN if unknown */
    int16_t battery_pct;  /* -1 if unknown */
    char trigger;         /* OwnTracks 't', or 0 */
};

/* A device's state for one fence; see the invariants above. */
struct fstate {
    int64_t tag;        /* the fence's user tag */
    int64_t since_ms;   /* fix time of the first fix of the bad-side run */
    int64_t horizon_ms; /* FS_LATE_DONE: device's newest fix time then */
    int32_t run;        /* far fixes in a row towards the other side */
    int32_t late_run;   /* late far bad-side fixes in a row */
    uint8_t kind;       /* enum lw_fence_kind the state was built for */
    uint8_t flags;      /* FS_* */
};

struct acct;

/* One tracked device (vehicle). */
struct dev {
    struct hent h;             /* devices table link; key is id */
    uint32_t heap_idx;         /* position in the heap, or NOT_IN_HEAP */
    struct acct *acct;         /* registered account, NULL when none */
    struct dev *acct_next;     /* next device of the same account */
    int64_t base_ms;           /* last heard, or registration if never */
    int64_t offline_after_ms;  /* the vehicle's allowance, 0 = default */
    int64_t deadline_ms;       /* cached dev_deadline(), INT64_MAX if none */
    struct cfix newest;        /* newest processed fix (DEV_HAS_NEWEST) */
    struct cfix suspect;       /* a jump kept aside (DEV_HAS_SUSPECT) */
    int64_t jump_alert_ms;     /* last gps_jump raised (DEV_JUMP_ALERTED) */
    double stay_lat_deg;       /* where the current stay began (DEV_HAS_STAY) */
    double stay_lon_deg;       /* ... */
    int64_t stay_ms;           /* ... and its fix time */
    int64_t degraded_ms;       /* fix time of the first of the live fixes in
                                  a row less accurate than
                                  LW_ALERT_JAM_ACCURACY_M; 0: the last was
                                  not */
    struct fstate *fs;         /* nfs sparse fence states */
    uint32_t nfs;              /* entries used in fs */
    uint32_t capfs;            /* entries allocated in fs */
    uint16_t flags;            /* DEV_* */
    char id[];                 /* device id, NUL-terminated */
};

/* An account, created when first named by a vehicle or an update. */
struct acct {
    struct hent h;     /* accounts table link; key is id */
    int days_past_due; /* last value set (meaningful when known) */
    bool known;        /* lw_engine_set_account was called for it */
    struct dev *devs;  /* registered devices, through dev.acct_next */
    char id[];         /* account id, NUL-terminated */
};

/* The fence ids linked to one device or one account. */
struct linkl {
    struct hent h; /* dev_links / acct_links link; key is id */
    size_t n;      /* ids used; sorted and unique once built */
    size_t cap;    /* ids allocated */
    size_t *ids;   /* fence ids */
    char id[];     /* device or account id */
};

/* What the engine keeps of each fence of the current set, by fence id. */
struct fmeta {
    int64_t tag;          /* the fence's user tag (unique in the set) */
    int64_t max_dwell_ms; /* keep_out dwell limit, 0 = none */
    uint8_t kind;         /* enum lw_fence_kind */
    bool global;          /* no link: applies to every vehicle */
};

/* The current fences and everything precomputed from them. */
struct fidx {
    const struct lw_fenceset *set; /* borrowed from the caller */
    size_t n;                      /* fences known (ids 0..n-1) */
    struct fmeta *meta;            /* n entries */
    size_t *global_in;             /* ids of the global keep_in fences */
    size_t nglobal_in;             /* entries in global_in */
    int64_t *tag_keys;             /* open-addressing tag -> id: keys */
    size_t *tag_ids;               /* id + 1 per slot, 0 = empty */
    size_t tag_mask;               /* slots - 1 (a power of two minus one) */
    struct htab dev_links;         /* device id -> struct linkl */
    struct htab acct_links;        /* account id -> struct linkl */
    uint32_t *stamp;               /* per fence: gen when last evaluated */
    uint32_t gen;                  /* current fix's stamp value */
    size_t *scratch;               /* n ids: lookup results of one fix */
};

struct lw_engine {
    struct lw_alert_cfg cfg; /* current settings */
    lw_alert_cb cb;          /* receives the alerts */
    void *ctx;               /* the caller's pointer for cb */
    struct htab devs;        /* struct dev by device id */
    struct htab accts;       /* struct acct by account id */
    struct dev **heap;       /* min-heap on deadline_ms */
    size_t heap_n;           /* devices in the heap */
    size_t heap_cap;         /* slots allocated, >= devs.n */
    struct fidx *fx;         /* current fences, NULL when none */
};

/* ---- alert kinds ------------------------------------------------------ */

static const char *const kind_names[LW_ALERT_KIND_COUNT_] = {
    [LW_ALERT_GEOFENCE_EXIT] = "geofence_exit",
    [LW_ALERT_GEOFENCE_ENTER] = "geofence_enter",
    [LW_ALERT_DWELL] = "dwell",
    [LW_ALERT_OFFLINE] = "offline",
    [LW_ALERT_BACK_ONLINE] = "back_online",
    [LW_ALERT_POWER_CUT] = "power_cut",
    [LW_ALERT_TOW] = "tow",
    [LW_ALERT_LOW_BATTERY] = "low_battery",
    [LW_ALERT_GPS_JUMP] = "gps_jump",
    [LW_ALERT_PARKED_LONG] = "parked_long",
    [LW_ALERT_NEW_OVERNIGHT_PLACE] = "new_overnight_place",
    [LW_ALERT_LONG_MOVE] = "long_move",
    [LW_ALERT_TRACKER_SEPARATION] = "tracker_separation",
    [LW_ALERT_TRACKER_LOST] = "tracker_lost",
};

const char *lw_alert_kind_name(enum lw_alert_kind k)
{
    if ((unsigned)k >= LW_ALERT_KIND_COUNT_ || !kind_names[k])
        return "unknown";
    return kind_names[k];
}

enum lw_err lw_alert_kind_parse(const char *s, enum lw_alert_kind *out)
{
    if (!s || !out)
        return LW_ERR_INVAL;
    for (int k = LW_ALERT_GEOFENCE_EXIT; k < LW_ALERT_KIND_COUNT_; k++) {
        if (strcmp(s, kind_names[k]) == 0) {
            *out = (enum lw_alert_kind)k;
            return LW_OK;
        }
    }
    return LW_ERR_INVAL;
}

/* ---- small helpers ---------------------------------------------------- */

/* a + b for b >= 0, saturating at INT64_MAX (deadlines far in the future). */
static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* True when s is a non-empty NUL-terminated string of at most max bytes. */
static bool id_ok(const char *s, size_t max)
{
    size_t len;

    if (!s)
        return false;
    len = strnlen(s, max + 1);
    return len > 0 && len <= max;
}

/* Copies at most dstsize - 1 bytes of src into dst, NUL-terminated. */
static void copy_str(char *dst, size_t dstsize, const char *src)
{
    size_t len = strnlen(src, dstsize - 1);

    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* 32-bit FNV-1a of s: cheap, and good enough for ids chosen by operators. */
static uint32_t hash_str(const char *s)
{
    uint32_t h = FNV_OFFSET;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= FNV_PRIME;
    }
    return h;
}

/* ---- hash tables ------------------------------------------------------ */

/* Empty table whose records keep their key key_off bytes in. */
static enum lw_err ht_init(struct htab *t, size_t key_off)
{
    t->b = calloc(HT_MIN_BUCKETS, sizeof(*t->b));
    if (!t->b)
        return LW_ERR_NOMEM;
    t->mask = HT_MIN_BUCKETS - 1;
    t->n = 0;
    t->key_off = key_off;
    return LW_OK;
}

/* The key of record h. */
static const char *ht_key(const struct htab *t, const struct hent *h)
{
    return (const char *)h + t->key_off;
}

/* The record keyed key (whose hash is hash), or NULL. */
static struct hent *ht_find(const struct htab *t, const char *key,
                            uint32_t hash)
{
    for (struct hent *h = t->b[hash & t->mask]; h; h = h->next)
        if (h->hash == hash && strcmp(ht_key(t, h), key) == 0)
            return h;
    return NULL;
}

/*
 * Inserts record h (its hash set, its key not present). Doubles the buckets
 * at load factor 1; when that allocation fails the table just gets fuller,
 * so inserting never fails.
 */
static void ht_add(struct htab *t, struct hent *h)
{
    if (t->n > t->mask && t->mask < SIZE_MAX / 2 / sizeof(*t->b)) {
        size_t nmask = t->mask * 2 + 1;
        struct hent **nb = calloc(nmask + 1, sizeof(*nb));

        if (nb) {
            for (size_t i = 0; i <= t->mask; i++) {
                struct hent *c = t->b[i];

                while (c) {
                    struct hent *next = c->next;

                    c->next = nb[c->hash & nmask];
                    nb[c->hash & nmask] = c;
                    c = next;
                }
            }
            free(t->b);
            t->b = nb;
            t->mask = nmask;
        }
    }
    h->next = t->b[h->hash & t->mask];
    t->b[h->hash & t->mask] = h;
    t->n++;
}

/* Frees every record (through release, which frees the record) and t's
 * buckets. A table never initialised (b NULL) is a no-op. */
static void ht_free(struct htab *t, void (*release)(struct hent *))
{
    if (!t->b)
        return;
    for (size_t i = 0; i <= t->mask; i++) {
        struct hent *h = t->b[i];

        while (h) {
            struct hent *next = h->next;

            release(h);
            h = next;
        }
    }
    free(t->b);
    t->b = NULL;
}

/* Releases a record that owns nothing but itself. */
static void release_plain(struct hent *h)
{
    free(h);
}

/* Releases a device and its fence states. */
static void release_dev(struct hent *h)
{
    struct dev *d = (struct dev *)h;

    free(d->fs);
    free(d);
}

/* Releases a link list and its ids. */
static void release_linkl(struct hent *h)
{
    struct linkl *l = (struct linkl *)h;

    free(l->ids);
    free(l);
}

/*
 * Allocates a hashed record of size bytes whose key (copied from key) sits
 * at key_off; zeroed otherwise. NULL when out of memory.
 */
static struct hent *new_record(size_t size, size_t key_off, const char *key,
                               uint32_t hash)
{
    size_t len = strlen(key);
    struct hent *h = calloc(1, size + len + 1);

    if (!h)
        return NULL;
    memcpy((char *)h + key_off, key, len + 1);
    h->hash = hash;
    return h;
}

/* ---- fences ----------------------------------------------------------- */

/* Frees an index and everything it owns. NULL is a no-op. */
static void fidx_free(struct fidx *x)
{
    if (!x)
        return;
    free(x->meta);
    free(x->global_in);
    free(x->tag_keys);
    free(x->tag_ids);
    ht_free(&x->dev_links, release_linkl);
    ht_free(&x->acct_links, release_linkl);
    free(x->stamp);
    free(x->scratch);
    free(x);
}

/* Slot of tag in x's tag map: where it is, or the empty slot it would take. */
static size_t tag_slot(const struct fidx *x, int64_t tag)
{
    /* Fibonacci hashing spreads consecutive database row ids. */
    size_t i = (size_t)(((uint64_t)tag * UINT64_C(0x9E3779B97F4A7C15)) >> 32) &
               x->tag_mask;

    while (x->tag_ids[i] && x->tag_keys[i] != tag)
        i = (i + 1) & x->tag_mask;
    return i;
}

/* Fence id of tag in the current set, or NO_FENCE. */
static size_t tag_lookup(const struct fidx *x, int64_t tag)
{
    size_t i;

    if (!x)
        return NO_FENCE;
    i = tag_slot(x, tag);
    return x->tag_ids[i] ? x->tag_ids[i] - 1 : NO_FENCE;
}

/* Appends fence id to the link list of key in t (created when absent). */
static enum lw_err link_add(struct htab *t, const char *key, size_t id)
{
    uint32_t hash = hash_str(key);
    struct linkl *l = (struct linkl *)ht_find(t, key, hash);

    if (!l) {
        l = (struct linkl *)new_record(sizeof(*l), offsetof(struct linkl, id),
                                       key, hash);
        if (!l)
            return LW_ERR_NOMEM;
        ht_add(t, &l->h);
    }
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : SMALL_CAP;
        size_t *p = realloc(l->ids, ncap * sizeof(*p));

        if (!p)
            return LW_ERR_NOMEM;
        l->ids = p;
        l->cap = ncap;
    }
    l->ids[l->n++] = id;
    return LW_OK;
}

/* qsort order of fence ids. */
static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return (x > y) - (x < y);
}

/* Sorts every link list of t and removes duplicate ids (bsearch later). */
static void links_sort(struct htab *t)
{
    for (size_t i = 0; i <= t->mask; i++) {
        for (struct hent *h = t->b[i]; h; h = h->next) {
            struct linkl *l = (struct linkl *)h;
            size_t w = 0;

            qsort(l->ids, l->n, sizeof(*l->ids), cmp_size);
            for (size_t r = 0; r < l->n; r++)
                if (w == 0 || l->ids[w - 1] != l->ids[r])
                    l->ids[w++] = l->ids[r];
            l->n = w;
        }
    }
}

/* True when sorted list l (may be NULL) holds fence id. */
static bool link_has(const struct linkl *l, size_t id)
{
    return l && bsearch(&id, l->ids, l->n, sizeof(*l->ids), cmp_size);
}

/* Allocates the arrays of x for n fences; LW_ERR_NOMEM. */
static enum lw_err fidx_alloc(struct fidx *x, size_t n)
{
    size_t slots = HT_MIN_BUCKETS;

    while (slots < 2 * n)
        slots *= 2;
    x->n = n;
    x->tag_mask = slots - 1;
    /* n + 1: calloc(0) may return NULL, which would read as failure. */
    x->meta = calloc(n + 1, sizeof(*x->meta));
    x->global_in = calloc(n + 1, sizeof(*x->global_in));
    x->stamp = calloc(n + 1, sizeof(*x->stamp));
    x->scratch = calloc(n + 1, sizeof(*x->scratch));
    x->tag_keys = calloc(slots, sizeof(*x->tag_keys));
    x->tag_ids = calloc(slots, sizeof(*x->tag_ids));
    if (!x->meta || !x->global_in || !x->stamp || !x->scratch || !x->tag_keys ||
        !x->tag_ids)
        return LW_ERR_NOMEM;
    if (ht_init(&x->dev_links, offsetof(struct linkl, id)) != LW_OK ||
        ht_init(&x->acct_links, offsetof(struct linkl, id)) != LW_OK)
        return LW_ERR_NOMEM;
    return LW_OK;
}

/*
 * Builds the index of set with its links and dwell limits (see
 * lw_engine_set_fences). *out owned by the caller (fidx_free).
 */
static enum lw_err fidx_build(struct fidx **out, const struct lw_fenceset *set,
                              const struct lw_fence_link *links, size_t nlinks,
                              const int64_t *max_dwell_ms)
{
    struct fidx *x = calloc(1, sizeof(*x));
    size_t n = lw_fenceset_count(set);
    enum lw_err rc;

    if (!x)
        return LW_ERR_NOMEM;
    rc = fidx_alloc(x, n);
    if (rc != LW_OK)
        goto out_free;
    x->set = set;
    for (size_t id = 0; id < n; id++) {
        struct fmeta *m = &x->meta[id];
        size_t slot;

        m->tag = lw_fence_get_tag(set, id);
        m->kind = (uint8_t)lw_fence_get_kind(set, id);
        m->max_dwell_ms = max_dwell_ms ? max_dwell_ms[id] : 0;
        m->global = true;
        rc = LW_ERR_INVAL;
        if (m->max_dwell_ms < 0)
            goto out_free;
        slot = tag_slot(x, m->tag);
        /* Fence state is keyed by tag: two fences with one tag would share
         * it, so the daemon must tag every fence uniquely. */
        if (x->tag_ids[slot])
            goto out_free;
        x->tag_keys[slot] = m->tag;
        x->tag_ids[slot] = id + 1;
    }
    for (size_t i = 0; i < nlinks; i++) {
        const struct lw_fence_link *k = &links[i];
        size_t id = tag_lookup(x, k->fence_tag);
        bool has_dev = k->device[0] != '\0', has_acct = k->account[0] != '\0';

        rc = LW_ERR_INVAL;
        if (strnlen(k->device, sizeof(k->device)) == sizeof(k->device) ||
            strnlen(k->account, sizeof(k->account)) == sizeof(k->account) ||
            (!has_dev && !has_acct))
            goto out_free;
        /* A link to a fence not in this set (removed since) links nothing. */
        if (id == NO_FENCE)
            continue;
        x->meta[id].global = false;
        rc = has_dev ? link_add(&x->dev_links, k->device, id) : LW_OK;
        if (rc == LW_OK && has_acct)
            rc = link_add(&x->acct_links, k->account, id);
        if (rc != LW_OK)
            goto out_free;
    }
    links_sort(&x->dev_links);
    links_sort(&x->acct_links);
    for (size_t id = 0; id < n; id++)
        if (x->meta[id].global && x->meta[id].kind == LW_FENCE_KEEP_IN)
            x->global_in[x->nglobal_in++] = id;
    *out = x;
    return LW_OK;
out_free:
    fidx_free(x);
    return rc;
}

/* The link list of device d and of its account (each may be NULL). */
static void dev_links(const struct fidx *x, const struct dev *d,
                      const struct linkl **dl, const struct linkl **al)
{
    *dl = (const struct linkl *)ht_find(&x->dev_links, d->id, d->h.hash);
    *al = NULL;
    if (d->acct)
        *al = (const struct linkl *)ht_find(&x->acct_links, d->acct->id,
                                            d->acct->h.hash);
}

/* True when fence id applies to a device with link lists dl and al. */
static bool applies(const struct fidx *x, size_t id, const struct linkl *dl,
                    const struct linkl *al)
{
    return x->meta[id].global || link_has(dl, id) || link_has(al, id);
}

/* ---- deadline heap ---------------------------------------------------- */

/* Puts d at heap slot i. */
static void heap_put(struct lw_engine *e, size_t i, struct dev *d)
{
    e->heap[i] = d;
    d->heap_idx = (uint32_t)i;
}

/* Moves the device at slot i up while it is earlier than its parent. */
static void sift_up(struct lw_engine *e, size_t i)
{
    struct dev *d = e->heap[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;

        if (e->heap[p]->deadline_ms <= d->deadline_ms)
            break;
        heap_put(e, i, e->heap[p]);
        i = p;
    }
    heap_put(e, i, d);
}

/* Moves the device at slot i down while a child is earlier. */
static void sift_down(struct lw_engine *e, size_t i)
{
    struct dev *d = e->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= e->heap_n)
            break;
        if (c + 1 < e->heap_n &&
            e->heap[c + 1]->deadline_ms < e->heap[c]->deadline_ms)
            c++;
        if (e->heap[c]->deadline_ms >= d->deadline_ms)
            break;
        heap_put(e, i, e->heap[c]);
        i = c;
    }
    heap_put(e, i, d);
}

/* Removes d (in the heap) from the heap. */
static void heap_remove(struct lw_engine *e, struct dev *d)
{
    size_t i = d->heap_idx;
    struct dev *last = e->heap[--e->heap_n];

    d->heap_idx = NOT_IN_HEAP;
    if (last == d)
        return;
    heap_put(e, i, last);
    sift_up(e, i);
    sift_down(e, last->heap_idx);
}

/* ---- per-device state ------------------------------------------------- */

/* The allowance of device d, ms. */
static int64_t allowance(const struct lw_engine *e, const struct dev *d)
{
    return d->offline_after_ms > 0 ? d->offline_after_ms
                                   : e->cfg.offline_after_ms;
}

/* Dwell limit of the fence of state s, 0 when none (or not keep_out). */
static int64_t dwell_limit(const struct lw_engine *e, const struct fstate *s)
{
    size_t id;

    if (s->kind != LW_FENCE_KEEP_OUT)
        return 0;
    id = tag_lookup(e->fx, s->tag);
    return id == NO_FENCE ? 0 : e->fx->meta[id].max_dwell_ms;
}

/* Whether d is to be watched now (DEV_WATCHED may lag: see after_cfg). */
static bool should_watch(const struct lw_engine *e, const struct dev *d)
{
    return d->acct && d->acct->known &&
           d->acct->days_past_due >= e->cfg.watch_days_past_due;
}

/*
 * The earliest moment something is due for d; INT64_MAX when nothing,
 * INT64_MIN when d became watched by a settings change not yet acted on.
 */
static int64_t dev_deadline(const struct lw_engine *e, const struct dev *d)
{
    int64_t t = INT64_MAX;

    if (should_watch(e, d) && !(d->flags & DEV_WATCHED))
        return INT64_MIN;
    /* Unwatched devices raise nothing; becoming watched checks at once. */
    if (!(d->flags & DEV_WATCHED))
        return INT64_MAX;
    if (!(d->flags & DEV_OFFLINE_DONE))
        t = sat_add(d->base_ms, allowance(e, d));
    for (uint32_t i = 0; i < d->nfs; i++) {
        const struct fstate *s = &d->fs[i];
        int64_t lim;

        if ((s->flags & (FS_BAD | FS_DWELL_DONE)) != FS_BAD)
            continue;
        lim = dwell_limit(e, s);
        if (lim > 0 && sat_add(s->since_ms, lim) < t)
            t = sat_add(s->since_ms, lim);
    }
    return t;
}

/* Recomputes d's deadline and its place in the heap (room is reserved). */
static void reschedule(struct lw_engine *e, struct dev *d)
{
    int64_t t = dev_deadline(e, d);

    d->deadline_ms = t;
    if (t == INT64_MAX) {
        if (d->heap_idx != NOT_IN_HEAP)
            heap_remove(e, d);
        return;
    }
    if (d->heap_idx == NOT_IN_HEAP) {
        e->heap_n++;
        heap_put(e, e->heap_n - 1, d);
    }
    sift_up(e, d->heap_idx);
    sift_down(e, d->heap_idx);
}

/* The device named id, or NULL. */
static struct dev *dev_find(const struct lw_engine *e, const char *id)
{
    return (struct dev *)ht_find(&e->devs, id, hash_str(id));
}

/*
 * The device named id (valid), created untracked-so-far when absent.
 * NULL when out of memory. Heap room is reserved for every device so that
 * reschedule never allocates.
 */
static struct dev *dev_get(struct lw_engine *e, const char *id)
{
    uint32_t hash = hash_str(id);
    struct dev *d = (struct dev *)ht_find(&e->devs, id, hash);

    if (d)
        return d;
    if (e->heap_cap <= e->devs.n) {
        size_t ncap = e->heap_cap * 2;
        struct dev **p;

        if (ncap > UINT32_MAX || ncap > SIZE_MAX / sizeof(*p))
            return NULL;
        p = realloc(e->heap, ncap * sizeof(*p));
        if (!p)
            return NULL;
        e->heap = p;
        e->heap_cap = ncap;
    }
    d = (struct dev *)new_record(sizeof(*d), offsetof(struct dev, id), id,
                                 hash);
    if (!d)
        return NULL;
    d->heap_idx = NOT_IN_HEAP;
    d->deadline_ms = INT64_MAX;
    ht_add(&e->devs, &d->h);
    return d;
}

/* d's state for the fence tagged tag, or NULL. */
static struct fstate *fs_find(struct dev *d, int64_t tag)
{
    for (uint32_t i = 0; i < d->nfs; i++)
        if (d->fs[i].tag == tag)
            return &d->fs[i];
    return NULL;
}

/* A new, idle state of d for fence tag of kind; NULL when out of memory. */
static struct fstate *fs_add(struct dev *d, int64_t tag, uint8_t kind)
{
    struct fstate *s;

    if (d->nfs == d->capfs) {
        uint32_t ncap = d->capfs ? d->capfs * 2 : SMALL_CAP;
        struct fstate *p;

        if (d->capfs > UINT32_MAX / 2)
            return NULL;
        p = realloc(d->fs, (size_t)ncap * sizeof(*p));
        if (!p)
            return NULL;
        d->fs = p;
        d->capfs = ncap;
    }
    s = &d->fs[d->nfs++];
    *s = (struct fstate){.tag = tag, .kind = kind};
    return s;
}

/* Removes state s of d (swapping the last one into its place). */
static void fs_remove(struct dev *d, struct fstate *s)
{
    *s = d->fs[--d->nfs];
    if (d->nfs == 0) {
        /* Most devices are on the good side of everything: give it back. */
        free(d->fs);
        d->fs = NULL;
        d->capfs = 0;
    }
}

/* Removes s when it says nothing that "no entry" does not say. */
static void drop_if_idle(struct dev *d, struct fstate *s)
{
    if (!(s->flags & (FS_BAD | FS_LATE_DONE)) && s->run == 0 &&
        s->late_run == 0)
        fs_remove(d, s);
}

/*
 * Restores the first invariant for d: drops states of fences no longer in
 * the set, of another kind now, or no longer applicable to d (links or its
 * account changed). The vehicle is then assumed on the good side of those.
 */
static void prune_dev(const struct lw_engine *e, struct dev *d)
{
    const struct linkl *dl = NULL, *al = NULL;

    if (e->fx)
        dev_links(e->fx, d, &dl, &al);
    /* Backwards: fs_remove swaps the last entry in, already visited. */
    for (uint32_t i = d->nfs; i-- > 0;) {
        size_t id = tag_lookup(e->fx, d->fs[i].tag);

        if (id == NO_FENCE || e->fx->meta[id].kind != d->fs[i].kind ||
            !applies(e->fx, id, dl, al))
            fs_remove(d, &d->fs[i]);
    }
}

/* Expands d's newest fix into out (a full lw_fix with the device id). */
static void cfix_fix(const struct dev *d, const struct cfix *c,
                     struct lw_fix *out)
{

    lw_fix_init(out);
    copy_str(out->device, sizeof(out->device), d->id);
    out->fix_time_ms = c->fix_time_ms;
    out->recv_time_ms = c->recv_time_ms;
    out->lat_deg = c->lat_deg;
    out->lon_deg = c->lon_deg;
    out->speed_mps = c->speed_mps;
    out->course_deg = c->course_deg;
    out->accuracy_m = c->accuracy_m;
    out->alt_m = c->alt_m;
    out->battery_pct = c->battery_pct;
    out->trigger = c->trigger;
}

static void newest_fix(const struct dev *d, struct lw_fix *out)
{
    cfix_fix(d, &d->newest, out);
}

static struct cfix fix_cfix(const struct lw_fix *f)
{
    return (struct cfix){
        .fix_time_ms = f->fix_time_ms,
        .recv_time_ms = f->recv_time_ms,
        .lat_deg = f->lat_deg,
        .lon_deg = f->lon_deg,
        .speed_mps = f->speed_mps,
        .course_deg = f->course_deg,
        .accuracy_m = f->accuracy_m,
        .alt_m = f->alt_m,
        .battery_pct =
            (int16_t)(f->battery_pct < INT16_MIN || f->battery_pct > INT16_MAX
                          ? -1
                          : f->battery_pct),
        .trigger = f->trigger,
    };
}

/* Stores f as d's newest fix. */
static void set_newest(struct dev *d, const struct lw_fix *f)
{
    d->newest = fix_cfix(f);
    d->flags |= DEV_HAS_NEWEST;
}

/* ---- raising ---------------------------------------------------------- */

/*
 * An alert of kind for d at now_ms, with no fence and no fix; the caller
 * fills in what applies, then calls emit.
 */
static void alert_init(struct lw_alert *a, const struct dev *d,
                       enum lw_alert_kind kind, int64_t now_ms)
{
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    copy_str(a->device, sizeof(a->device), d->id);
    a->raised_ms = now_ms;
    a->moved_m = NAN;
    lw_fix_init(&a->fix);
}

/* Sets the fence of a to fence id of the current set. */
static void alert_fence(struct lw_alert *a, const struct lw_engine *e,
                        size_t id)
{
    const char *name = lw_fence_get_name(e->fx->set, id);

    copy_str(a->fence, sizeof(a->fence), name ? name : "");
    a->fence_tag = e->fx->meta[id].tag;
}

/* Sets the fix of a to f, or to d's newest fix when f is NULL (if any). */
static void alert_fix(struct lw_alert *a, const struct dev *d,
                      const struct lw_fix *f)
{
    if (f) {
        a->fix = *f;
        a->has_fix = true;
    } else if (d->flags & DEV_HAS_NEWEST) {
        newest_fix(d, &a->fix);
        a->has_fix = true;
    }
}

/* Hands a to the caller. */
static void emit(const struct lw_engine *e, const struct lw_alert *a)
{
    if (e->cb)
        e->cb(e->ctx, a);
}

/* The transition alert of a fence kind: leaving keep_in, entering keep_out. */
static enum lw_alert_kind fence_alert_kind(uint8_t kind)
{
    return kind == LW_FENCE_KEEP_IN ? LW_ALERT_GEOFENCE_EXIT
                                    : LW_ALERT_GEOFENCE_ENTER;
}

/*
 * Raises what is due at now_ms for watched device d: offline once its
 * allowance has run out, dwell once a stay is over its limit. Everything
 * dev_deadline() counts as due at now_ms is consumed here, so the caller's
 * reschedule lands after now_ms.
 */
static void due(struct lw_engine *e, struct dev *d, int64_t now_ms)
{
    struct lw_alert a;

    if (!(d->flags & DEV_WATCHED))
        return;
    if (!(d->flags & DEV_OFFLINE_DONE) &&
        now_ms >= sat_add(d->base_ms, allowance(e, d))) {
        d->flags |= DEV_OFFLINE_DONE;
        alert_init(&a, d, LW_ALERT_OFFLINE, now_ms);
        alert_fix(&a, d, NULL);
        a.gap_ms = now_ms - d->base_ms;
        a.jamming_suspected =
            d->degraded_ms != 0 && (d->flags & DEV_HAS_NEWEST) &&
            d->newest.fix_time_ms - d->degraded_ms >= LW_ALERT_JAM_MS;
        emit(e, &a);
    }
    for (uint32_t i = 0; i < d->nfs; i++) {
        struct fstate *s = &d->fs[i];
        int64_t lim;

        if ((s->flags & (FS_BAD | FS_DWELL_DONE)) != FS_BAD)
            continue;
        lim = dwell_limit(e, s);
        if (lim <= 0 || now_ms < sat_add(s->since_ms, lim))
            continue;
        s->flags |= FS_DWELL_DONE;
        alert_init(&a, d, LW_ALERT_DWELL, now_ms);
        alert_fence(&a, e, tag_lookup(e->fx, s->tag));
        alert_fix(&a, d, NULL);
        emit(e, &a);
    }
}

/*
 * Brings d's watched flag up to date. Becoming watched raises, once and
 * now, the fences d is on the bad side of (the caller then calls due() for
 * silence and dwell);
 * ceasing to be watched forgets what was raised, so a later watch period
 * starts afresh.
 */
static void refresh_watch(struct lw_engine *e, struct dev *d, int64_t now_ms)
{
    bool w = should_watch(e, d);

    if (w == !!(d->flags & DEV_WATCHED))
        return;
    if (!w) {
        d->flags &= (uint16_t) ~(DEV_WATCHED | DEV_OFFLINE_DONE);
        for (uint32_t i = 0; i < d->nfs; i++)
            d->fs[i].flags &= (uint8_t) ~(FS_ALERTED | FS_DWELL_DONE);
        return;
    }
    d->flags |= DEV_WATCHED;
    for (uint32_t i = 0; i < d->nfs; i++) {
        struct fstate *s = &d->fs[i];
        struct lw_alert a;

        if ((s->flags & (FS_BAD | FS_ALERTED)) != FS_BAD)
            continue;
        s->flags |= FS_ALERTED;
        alert_init(&a, d, fence_alert_kind(s->kind), now_ms);
        alert_fence(&a, e, tag_lookup(e->fx, s->tag));
        alert_fix(&a, d, NULL);
        emit(e, &a);
    }
}

/* Brings d up to date at now_ms: watched flag, then what is due. */
static void settle(struct lw_engine *e, struct dev *d, int64_t now_ms)
{
    refresh_watch(e, d, now_ms);
    due(e, d, now_ms);
}

/*
 * A message from d received at heard_ms (our clock): ends an open offline
 * alert with back_online (when watched), then moves the offline clock.
 * f is the fix that came (NULL for a message without a position).
 */
static void heard(struct lw_engine *e, struct dev *d, int64_t heard_ms,
                  const struct lw_fix *f, bool late, int64_t now_ms)
{
    if (d->flags & DEV_OFFLINE_DONE) {
        d->flags &= (uint16_t)~DEV_OFFLINE_DONE;
        if (d->flags & DEV_WATCHED) {
            struct lw_alert a;

            alert_init(&a, d, LW_ALERT_BACK_ONLINE, now_ms);
            if (f)
                alert_fix(&a, d, f);
            a.gap_ms = heard_ms > d->base_ms ? heard_ms - d->base_ms : 0;
            /* A late fix is older than the last one before the silence:
             * the distance between them says nothing about the gap. */
            if (f && !late && (d->flags & DEV_HAS_NEWEST))
                a.moved_m =
                    lw_geo_distance_m(d->newest.lat_deg, d->newest.lon_deg,
                                      f->lat_deg, f->lon_deg);
            if (f && late) {
                a.late = true;
                a.age_ms = now_ms - f->fix_time_ms;
            }
            emit(e, &a);
        }
    }
    if (!(d->flags & DEV_HEARD) || heard_ms > d->base_ms)
        d->base_ms = heard_ms;
    d->flags |= DEV_HEARD;
}

/* ---- fence evaluation ------------------------------------------------- */

/* What one fix says of one fence. */
struct side {
    bool bad; /* on the bad side (outside keep_in, inside keep_out) */
    bool far; /* farther from the line than max(accuracy, margin) */
};

/*
 * Where f lies relative to fence id given whether it is inside. The distance
 * is only computed when it matters (bad side, or state pending), because
 * the common case is "good side, no state", which needs none.
 */
static struct side side_of(const struct lw_engine *e, size_t id, bool inside,
                           const struct lw_fix *f, bool need_far)
{
    struct side r;
    double margin = e->cfg.fence_margin_m, dist;

    r.bad = e->fx->meta[id].kind == LW_FENCE_KEEP_IN ? !inside : inside;
    r.far = false;
    if (!r.bad && !need_far)
        return r;
    if (lw_has(f->accuracy_m) && f->accuracy_m > margin)
        margin = f->accuracy_m;
    dist = lw_fence_distance_m(e->fx->set, id, f->lat_deg, f->lon_deg);
    /* NAN (cannot tell) compares false: ambiguous, like a fix on the line. */
    r.far = dist > margin;
    return r;
}

/*
 * One live (non-late) fix f of d against fence id (inside or not): advances
 * the pending run, confirms a side, raises exit/enter. LW_ERR_NOMEM when a
 * new state could not be stored (the fix is then not counted for it).
 */
static enum lw_err eval_live(struct lw_engine *e, struct dev *d, size_t id,
                             bool inside, const struct lw_fix *f,
                             int64_t now_ms)
{
    const struct fmeta *m = &e->fx->meta[id];
    struct fstate *s = fs_find(d, m->tag);
    struct side sd = side_of(e, id, inside, f, s != NULL);

    if (!s) {
        if (!sd.bad || !sd.far)
            return LW_OK;
        s = fs_add(d, m->tag, m->kind);
        if (!s)
            return LW_ERR_NOMEM;
    }
    if (!(s->flags & FS_BAD)) {
        if (!(sd.bad && sd.far)) {
            /* Ambiguous or good side: the run towards bad is broken. */
            s->run = 0;
        } else if (++s->run == 1) {
            s->since_ms = f->fix_time_ms;
        }
        if (s->run >= e->cfg.confirm_fixes) {
            s->run = 0;
            s->flags |= FS_BAD;
            s->flags &= (uint8_t) ~(FS_ALERTED | FS_DWELL_DONE);
            if (d->flags & DEV_WATCHED) {
                struct lw_alert a;

                s->flags |= FS_ALERTED;
                alert_init(&a, d, fence_alert_kind(m->kind), now_ms);
                alert_fence(&a, e, id);
                alert_fix(&a, d, f);
                emit(e, &a);
            }
        }
    } else if (!sd.bad && sd.far) {
        if (++s->run >= e->cfg.confirm_fixes) {
            /* Confirmed return: re-armed, the stay is over. */
            s->run = 0;
            s->flags &= (uint8_t) ~(FS_BAD | FS_ALERTED | FS_DWELL_DONE);
        }
    } else {
        s->run = 0;
    }
    drop_if_idle(d, s);
    return LW_OK;
}

/*
 * One late fix f of d against fence id: counts a run of late far bad-side
 * fixes for a fence d is now on the good side of, and reports it once with
 * late = true. The report is not repeated for late fixes up to horizon_ms
 * (d's newest fix time when it was made: they belong to the backlog already
 * reported); a late fix newer than that opens a new window.
 */
static enum lw_err eval_late(struct lw_engine *e, struct dev *d, size_t id,
                             bool inside, const struct lw_fix *f,
                             int64_t now_ms)
{
    const struct fmeta *m = &e->fx->meta[id];
    struct fstate *s = fs_find(d, m->tag);
    struct side sd;

    /* On the bad side now: the live alert says it all. */
    if (s && (s->flags & FS_BAD))
        return LW_OK;
    sd = side_of(e, id, inside, f, false);
    if (!sd.bad || !sd.far) {
        if (s) {
            s->late_run = 0;
            drop_if_idle(d, s);
        }
        return LW_OK;
    }
    if (s && (s->flags & FS_LATE_DONE)) {
        if (f->fix_time_ms <= s->horizon_ms)
            return LW_OK;
        s->flags &= (uint8_t)~FS_LATE_DONE;
    }
    if (!s) {
        s = fs_add(d, m->tag, m->kind);
        if (!s)
            return LW_ERR_NOMEM;
    }
    if (++s->late_run < e->cfg.confirm_fixes)
        return LW_OK;
    s->late_run = 0;
    s->flags |= FS_LATE_DONE;
    s->horizon_ms =
        (d->flags & DEV_HAS_NEWEST) ? d->newest.fix_time_ms : f->fix_time_ms;
    if (d->flags & DEV_WATCHED) {
        struct lw_alert a;

        alert_init(&a, d, fence_alert_kind(m->kind), now_ms);
        alert_fence(&a, e, id);
        alert_fix(&a, d, f);
        a.late = true;
        a.age_ms = now_ms - f->fix_time_ms;
        emit(e, &a);
    }
    return LW_OK;
}

/* Collects the ids lw_fenceset_which reports into the scratch array. */
struct collect {
    struct fidx *x; /* whose scratch receives the ids */
    size_t n;       /* ids collected */
};

/* lw_fence_cb of struct collect; ignores ids added to the set since. */
static int collect_cb(void *ctx, size_t id)
{
    struct collect *c = ctx;

    if (id < c->x->n && c->n < c->x->n)
        c->x->scratch[c->n++] = id;
    return 0;
}

/* Evaluator of one fence for one fix: eval_live or eval_late. */
typedef enum lw_err (*eval_fn)(struct lw_engine *e, struct dev *d, size_t id,
                               bool inside, const struct lw_fix *f,
                               int64_t now_ms);

/* Evaluates fence id unless already done for this fix; keeps the first
 * error in *rc. */
static void eval_once(struct lw_engine *e, struct dev *d, size_t id,
                      bool inside, const struct lw_fix *f, int64_t now_ms,
                      eval_fn fn, enum lw_err *rc)
{
    struct fidx *x = e->fx;
    enum lw_err r;

    if (x->stamp[id] == x->gen)
        return;
    x->stamp[id] = x->gen;
    r = fn(e, d, id, inside, f, now_ms);
    if (*rc == LW_OK)
        *rc = r;
}

/* Evaluates the keep_in fences of list ids[0..n) against f. */
static void eval_keep_in(struct lw_engine *e, struct dev *d, const size_t *ids,
                         size_t n, const struct lw_fix *f, int64_t now_ms,
                         eval_fn fn, enum lw_err *rc)
{
    for (size_t i = 0; i < n; i++) {
        size_t id = ids[i];

        if (e->fx->meta[id].kind != LW_FENCE_KEEP_IN ||
            e->fx->stamp[id] == e->fx->gen)
            continue;
        eval_once(e, d, id,
                  lw_fence_contains(e->fx->set, id, f->lat_deg, f->lon_deg), f,
                  now_ms, fn, rc);
    }
}

/*
 * Runs fn for f against every fence that may matter to d: keep_out fences
 * holding f (index), applicable keep_in fences, and every fence d has
 * state for. Each fence once.
 */
static enum lw_err eval_fences(struct lw_engine *e, struct dev *d,
                               const struct lw_fix *f, int64_t now_ms,
                               eval_fn fn)
{
    struct fidx *x = e->fx;
    const struct linkl *dl, *al;
    struct collect c;
    enum lw_err rc = LW_OK;
    size_t nrest = 0;

    if (!x)
        return LW_OK;
    if (++x->gen == 0) {
        /* Wrapped after 2^32 fixes: old stamps could look current. */
        memset(x->stamp, 0, x->n * sizeof(*x->stamp));
        x->gen = 1;
    }
    dev_links(x, d, &dl, &al);
    c = (struct collect){.x = x, .n = 0};
    (void)lw_fenceset_which(x->set, f->lat_deg, f->lon_deg, collect_cb, &c);
    for (size_t i = 0; i < c.n; i++) {
        size_t id = x->scratch[i];

        if (x->meta[id].kind == LW_FENCE_KEEP_OUT && applies(x, id, dl, al))
            eval_once(e, d, id, true, f, now_ms, fn, &rc);
    }
    eval_keep_in(e, d, x->global_in, x->nglobal_in, f, now_ms, fn, &rc);
    if (dl)
        eval_keep_in(e, d, dl->ids, dl->n, f, now_ms, fn, &rc);
    if (al)
        eval_keep_in(e, d, al->ids, al->n, f, now_ms, fn, &rc);
    /* States not visited yet: keep_out fences f is outside of. Collected
     * first because evaluating may remove states. */
    for (uint32_t i = 0; i < d->nfs; i++) {
        size_t id = tag_lookup(x, d->fs[i].tag);

        if (id != NO_FENCE && x->stamp[id] != x->gen && nrest < x->n)
            x->scratch[nrest++] = id;
    }
    for (size_t i = 0; i < nrest; i++) {
        size_t id = x->scratch[i];

        eval_once(e, d, id,
                  lw_fence_contains(x->set, id, f->lat_deg, f->lon_deg), f,
                  now_ms, fn, &rc);
    }
    return rc;
}

/* Trigger alerts of a live fix: one per run of the same trigger. */
static void triggers(struct lw_engine *e, struct dev *d, const struct lw_fix *f,
                     int64_t now_ms)
{
    static const struct {
        char trigger;            /* OwnTracks 't' */
        uint16_t bit;            /* DEV_TRIG_* of the run */
        enum lw_alert_kind kind; /* raised at the start of a run */
    } map[] = {
        {TRIGGER_POWER_CUT, DEV_TRIG_POWER, LW_ALERT_POWER_CUT},
        {TRIGGER_TOW, DEV_TRIG_TOW, LW_ALERT_TOW},
        {TRIGGER_LOW_BATTERY, DEV_TRIG_BATTERY, LW_ALERT_LOW_BATTERY},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        struct lw_alert a;

        if (f->trigger != map[i].trigger) {
            d->flags &= (uint16_t)~map[i].bit;
            continue;
        }
        if (d->flags & map[i].bit)
            continue;
        d->flags |= map[i].bit;
        if (!(d->flags & DEV_WATCHED))
            continue;
        alert_init(&a, d, map[i].kind, now_ms);
        alert_fix(&a, d, f);
        emit(e, &a);
    }
}

/* ---- public ----------------------------------------------------------- */

/* True when cfg holds usable settings. */
static bool cfg_ok(const struct lw_alert_cfg *cfg)
{
    return cfg && cfg->confirm_fixes >= 1 && cfg->fence_margin_m >= 0 &&
           isfinite(cfg->fence_margin_m) && cfg->offline_after_ms > 0 &&
           cfg->max_speed_mps >= 0 && isfinite(cfg->max_speed_mps) &&
           cfg->parked_after_ms >= 0;
}

enum lw_err lw_engine_new(struct lw_engine **out,
                          const struct lw_alert_cfg *cfg, lw_alert_cb cb,
                          void *ctx)
{
    struct lw_engine *e;

    if (!out)
        return LW_ERR_INVAL;
    *out = NULL;
    if (!cfg_ok(cfg))
        return LW_ERR_INVAL;
    e = calloc(1, sizeof(*e));
    if (!e)
        return LW_ERR_NOMEM;
    e->cfg = *cfg;
    e->cb = cb;
    e->ctx = ctx;
    e->heap = malloc(HEAP_MIN_CAP * sizeof(*e->heap));
    e->heap_cap = HEAP_MIN_CAP;
    if (!e->heap || ht_init(&e->devs, offsetof(struct dev, id)) != LW_OK ||
        ht_init(&e->accts, offsetof(struct acct, id)) != LW_OK)
        goto out_free;
    *out = e;
    return LW_OK;
out_free:
    lw_engine_free(e);
    return LW_ERR_NOMEM;
}

void lw_engine_free(struct lw_engine *e)
{
    if (!e)
        return;
    ht_free(&e->devs, release_dev);
    ht_free(&e->accts, release_plain);
    fidx_free(e->fx);
    free(e->heap);
    free(e);
}

/* Calls fn(e, d, now_ms) for every device. */
static void for_each_dev(struct lw_engine *e,
                         void (*fn)(struct lw_engine *, struct dev *, int64_t),
                         int64_t now_ms)
{
    for (size_t i = 0; i <= e->devs.mask; i++)
        for (struct hent *h = e->devs.b[i]; h; h = h->next)
            fn(e, (struct dev *)h, now_ms);
}

/*
 * After new settings: a vehicle no longer watched is unwatched at once
 * (nothing to raise, no time needed); one newly watched keeps its old flag
 * and so gets deadline INT64_MIN (see dev_deadline): the next tick, or its
 * next event, raises what becoming watched deserves, with a real now_ms.
 */
static void after_cfg(struct lw_engine *e, struct dev *d, int64_t now_ms)
{
    if ((d->flags & DEV_WATCHED) && !should_watch(e, d))
        refresh_watch(e, d, now_ms);
    reschedule(e, d);
}

void lw_engine_set_cfg(struct lw_engine *e, const struct lw_alert_cfg *cfg)
{
    /* Like a bad config file on SIGHUP: keep the old settings. */
    if (!e || !cfg_ok(cfg))
        return;
    e->cfg = *cfg;
    for_each_dev(e, after_cfg, 0);
}

/* After new fences: drop states they invalidate, move dwell deadlines. */
static void after_fences(struct lw_engine *e, struct dev *d, int64_t now_ms)
{
    (void)now_ms;
    prune_dev(e, d);
    reschedule(e, d);
}

enum lw_err lw_engine_set_fences(struct lw_engine *e,
                                 const struct lw_fenceset *fences,
                                 const struct lw_fence_link *links,
                                 size_t nlinks, const int64_t *max_dwell_ms)
{
    struct fidx *x = NULL;

    if (!e || (nlinks > 0 && !links))
        return LW_ERR_INVAL;
    if (fences) {
        enum lw_err rc = fidx_build(&x, fences, links, nlinks, max_dwell_ms);

        if (rc != LW_OK)
            return rc;
    }
    fidx_free(e->fx);
    e->fx = x;
    for_each_dev(e, after_fences, 0);
    return LW_OK;
}

/* Removes d from its account's device list (if registered to one). */
static void acct_unlink(struct dev *d)
{
    if (!d->acct)
        return;
    for (struct dev **p = &d->acct->devs; *p; p = &(*p)->acct_next) {
        if (*p == d) {
            *p = d->acct_next;
            break;
        }
    }
    d->acct = NULL;
    d->acct_next = NULL;
}

/* The account named id, created (unknown days past due) when absent. */
static struct acct *acct_get(struct lw_engine *e, const char *id)
{
    uint32_t hash = hash_str(id);
    struct acct *a = (struct acct *)ht_find(&e->accts, id, hash);

    if (a)
        return a;
    a = (struct acct *)new_record(sizeof(*a), offsetof(struct acct, id), id,
                                  hash);
    if (a)
        ht_add(&e->accts, &a->h);
    return a;
}

enum lw_err lw_engine_set_vehicle(struct lw_engine *e, const char *device,
                                  const struct lw_vehicle_reg *reg,
                                  int64_t now_ms)
{
    struct acct *a = NULL;
    struct dev *d;

    if (!e || !id_ok(device, LW_DEVICE_MAX) || !reg ||
        strnlen(reg->account, sizeof(reg->account)) == sizeof(reg->account) ||
        reg->offline_after_ms < 0)
        return LW_ERR_INVAL;
    if (reg->account[0]) {
        a = acct_get(e, reg->account);
        if (!a)
            return LW_ERR_NOMEM;
    }
    d = dev_get(e, device);
    if (!d)
        return LW_ERR_NOMEM;
    if (d->acct != a) {
        acct_unlink(d);
        if (a) {
            d->acct = a;
            d->acct_next = a->devs;
            a->devs = d;
        }
        prune_dev(e, d);
    }
    d->flags |= DEV_REGISTERED;
    d->offline_after_ms = reg->offline_after_ms;
    if (!(d->flags & DEV_HEARD))
        d->base_ms = reg->registered_ms;
    /* Becoming watched raises now; a new allowance that has already run
     * out is raised now too, as a tick would. */
    settle(e, d, now_ms);
    reschedule(e, d);
    return LW_OK;
}

void lw_engine_unset_vehicle(struct lw_engine *e, const char *device,
                             int64_t now_ms)
{
    struct dev *d;

    if (!e || !id_ok(device, LW_DEVICE_MAX))
        return;
    d = dev_find(e, device);
    if (!d)
        return;
    acct_unlink(d);
    d->flags &= (uint16_t)~DEV_REGISTERED;
    d->offline_after_ms = 0;
    prune_dev(e, d);
    settle(e, d, now_ms);
    reschedule(e, d);
}

enum lw_err lw_engine_set_account(struct lw_engine *e, const char *account,
                                  int days_past_due, int64_t now_ms)
{
    struct acct *a;

    if (!e || !id_ok(account, LW_ACCOUNT_MAX))
        return LW_ERR_INVAL;
    a = acct_get(e, account);
    if (!a)
        return LW_ERR_NOMEM;
    a->known = true;
    a->days_past_due = days_past_due;
    /* Few devices per account: settle them all, whether or not this
     * update flips watched (a settings change may have left one behind). */
    for (struct dev *d = a->devs; d; d = d->acct_next) {
        settle(e, d, now_ms);
        reschedule(e, d);
    }
    return LW_OK;
}

enum lw_err lw_engine_heard(struct lw_engine *e, const char *device,
                            int64_t now_ms)
{
    struct dev *d;

    if (!e || !id_ok(device, LW_DEVICE_MAX))
        return LW_ERR_INVAL;
    d = dev_get(e, device);
    if (!d)
        return LW_ERR_NOMEM;
    /* A silence that ran out before this message is raised first (then
     * back_online), even if the tick that was due has not run yet. */
    settle(e, d, now_ms);
    heard(e, d, now_ms, NULL, false, now_ms);
    due(e, d, now_ms);
    reschedule(e, d);
    return LW_OK;
}

/*
 * parked_long: f, an accepted live fix, either starts a new stay (farther
 * than LW_ALERT_PARKED_RADIUS_M from where the stay began) or extends it;
 * a stay as long as parked_after_ms raises parked_long once (watched).
 */
static void parked(struct lw_engine *e, struct dev *d, const struct lw_fix *f,
                   int64_t now_ms)
{
    struct lw_alert a;

    if (lw_has(f->accuracy_m) && f->accuracy_m > LW_ALERT_PARKED_RADIUS_M)
        return; /* too vague to say it moved, or that it did not */
    if (!(d->flags & DEV_HAS_STAY) ||
        lw_geo_distance_m(d->stay_lat_deg, d->stay_lon_deg, f->lat_deg,
                          f->lon_deg) > LW_ALERT_PARKED_RADIUS_M) {
        d->stay_lat_deg = f->lat_deg;
        d->stay_lon_deg = f->lon_deg;
        d->stay_ms = f->fix_time_ms;
        d->flags = (uint16_t)((d->flags | DEV_HAS_STAY) & ~DEV_PARKED_DONE);
        return;
    }
    if (e->cfg.parked_after_ms <= 0 || (d->flags & DEV_PARKED_DONE) ||
        f->fix_time_ms - d->stay_ms < e->cfg.parked_after_ms ||
        !(d->flags & DEV_WATCHED))
        return;
    d->flags |= DEV_PARKED_DONE;
    alert_init(&a, d, LW_ALERT_PARKED_LONG, now_ms);
    alert_fix(&a, d, f);
    a.gap_ms = f->fix_time_ms - d->stay_ms;
    emit(e, &a);
}

/*
 * Acts on the judgement j (NULL: accepted) of f, a fix that is not late
 * (jump.h; the ingester judged it once, when it stored it): keeps a
 * suspect aside in d and raises gps_jump for it (watched, at most once per
 * LW_ALERT_JUMP_REPEAT_MS). A confirmation of a suspect d does not hold
 * (never seen here) confirms f alone. Returns the verdict to act on.
 */
static enum lw_jump_verdict judge_jump(struct lw_engine *e, struct dev *d,
                                       const struct lw_fix *f,
                                       const struct lw_jump_ruling *j,
                                       int64_t now_ms)
{
    enum lw_jump_verdict v = j ? j->verdict : LW_JUMP_OK;
    struct lw_alert a;

    if (v == LW_JUMP_CONFIRMS &&
        (!(d->flags & DEV_HAS_SUSPECT) ||
         d->suspect.fix_time_ms != j->info.confirmed.fix_time_ms))
        return LW_JUMP_OK;
    if (v != LW_JUMP_SUSPECT)
        return v;
    d->suspect = fix_cfix(f);
    d->flags |= DEV_HAS_SUSPECT;
    if (!(d->flags & DEV_WATCHED))
        return v;
    if ((d->flags & DEV_JUMP_ALERTED) &&
        now_ms - d->jump_alert_ms < LW_ALERT_JUMP_REPEAT_MS)
        return v;
    d->flags |= DEV_JUMP_ALERTED;
    d->jump_alert_ms = now_ms;
    alert_init(&a, d, LW_ALERT_GPS_JUMP, now_ms);
    alert_fix(&a, d, f);
    a.moved_m = j->info.distance_m;
    a.gap_ms = j->info.dt_ms;
    emit(e, &a);
    return v;
}

enum lw_err lw_engine_fix(struct lw_engine *e, const struct lw_fix *f,
                          bool late, int64_t now_ms)
{
    return lw_engine_fix_judged(e, f, late, NULL, now_ms);
}

enum lw_err lw_engine_fix_judged(struct lw_engine *e, const struct lw_fix *f,
                                 bool late, const struct lw_jump_ruling *j,
                                 int64_t now_ms)
{
    struct dev *d;
    enum lw_err rc;

    if (!e || !f || !id_ok(f->device, LW_DEVICE_MAX))
        return LW_ERR_INVAL;
    if (!lw_geo_valid(f->lat_deg, f->lon_deg))
        return LW_ERR_RANGE;
    d = dev_get(e, f->device);
    if (!d)
        return LW_ERR_NOMEM;
    /* Defensive: a fix older than the newest is late whatever we are told,
     * or it would move the last-known position backwards. */
    if ((d->flags & DEV_HAS_NEWEST) && f->fix_time_ms < d->newest.fix_time_ms)
        late = true;
    /* As in lw_engine_heard: what was due before this message first. */
    settle(e, d, now_ms);
    heard(e, d, f->recv_time_ms > 0 ? f->recv_time_ms : now_ms, f, late,
          now_ms);
    if (late) {
        rc = eval_fences(e, d, f, now_ms, eval_late);
    } else {
        /* a run of degraded fixes (jamming); an unknown accuracy ends it */
        if (lw_has(f->accuracy_m) && f->accuracy_m > LW_ALERT_JAM_ACCURACY_M) {
            if (!d->degraded_ms)
                d->degraded_ms = f->fix_time_ms ? f->fix_time_ms : 1;
        } else {
            d->degraded_ms = 0;
        }
        switch (judge_jump(e, d, f, j, now_ms)) {
        case LW_JUMP_SUSPECT:
            rc = LW_OK; /* kept aside: moves nothing */
            break;
        case LW_JUMP_CONFIRMS: {
            struct lw_fix s;

            /* the suspect was true: it goes first, as it came */
            cfix_fix(d, &d->suspect, &s);
            d->flags &= (uint16_t)~DEV_HAS_SUSPECT;
            rc = eval_fences(e, d, &s, now_ms, eval_live);
            set_newest(d, &s);
            triggers(e, d, &s, now_ms);
            parked(e, d, &s, now_ms);
            if (rc == LW_OK)
                rc = eval_fences(e, d, f, now_ms, eval_live);
            set_newest(d, f);
            triggers(e, d, f, now_ms);
            parked(e, d, f, now_ms);
            break;
        }
        default:
            d->flags &= (uint16_t)~DEV_HAS_SUSPECT;
            rc = eval_fences(e, d, f, now_ms, eval_live);
            set_newest(d, f);
            triggers(e, d, f, now_ms);
            parked(e, d, f, now_ms);
        }
    }
    /* A stay confirmed by this fix may already be over its dwell limit. */
    due(e, d, now_ms);
    reschedule(e, d);
    return rc;
}

int64_t lw_engine_tick(struct lw_engine *e, const char *device, int64_t now_ms)
{
    struct dev *d;

    if (!e)
        return INT64_MAX;
    if (device) {
        d = dev_find(e, device);
        if (!d)
            return INT64_MAX;
        settle(e, d, now_ms);
        reschedule(e, d);
        return d->deadline_ms;
    }
    /* settle() consumes everything at or before now_ms, so each device
     * popped here goes back in later than now_ms (or not at all): this
     * ends. */
    while (e->heap_n > 0 && e->heap[0]->deadline_ms <= now_ms) {
        d = e->heap[0];
        settle(e, d, now_ms);
        reschedule(e, d);
        /* Defensive: a device still due after settling would spin here
         * forever; stop instead (the impossible, kept checked). */
        if (e->heap_n > 0 && e->heap[0] == d && d->deadline_ms <= now_ms)
            break;
    }
    return e->heap_n > 0 ? e->heap[0]->deadline_ms : INT64_MAX;
}

int64_t lw_engine_newest_ms(const struct lw_engine *e, const char *device)
{
    const struct dev *d;

    if (!e || !device)
        return 0;
    d = dev_find(e, device);
    return d && (d->flags & DEV_HAS_NEWEST) ? d->newest.fix_time_ms : 0;
}

int64_t lw_engine_deadline(const struct lw_engine *e, const char *device)
{
    const struct dev *d;

    if (!e || !device)
        return INT64_MAX;
    d = dev_find(e, device);
    return d ? d->deadline_ms : INT64_MAX;
}

bool lw_engine_watched(const struct lw_engine *e, const char *device)
{
    const struct dev *d;

    if (!e || !device)
        return false;
    d = dev_find(e, device);
    return d && should_watch(e, d);
}

enum lw_err lw_engine_restore(struct lw_engine *e, const char *device,
                              int64_t last_heard_ms,
                              const struct lw_fix *newest, bool offline_open)
{
    struct dev *d;

    if (!e || !id_ok(device, LW_DEVICE_MAX))
        return LW_ERR_INVAL;
    if (newest && !lw_geo_valid(newest->lat_deg, newest->lon_deg))
        return LW_ERR_RANGE;
    d = dev_get(e, device);
    if (!d)
        return LW_ERR_NOMEM;
    if (last_heard_ms > 0) {
        d->base_ms = last_heard_ms;
        d->flags |= DEV_HEARD;
    }
    if (newest)
        set_newest(d, newest);
    if (offline_open)
        d->flags |= DEV_OFFLINE_DONE;
    else
        d->flags &= (uint16_t)~DEV_OFFLINE_DONE;
    reschedule(e, d);
    return LW_OK;
}

enum lw_err lw_engine_restore_fence(struct lw_engine *e, const char *device,
                                    int64_t fence_tag, int64_t since_ms,
                                    bool dwell_done)
{
    struct dev *d;
    struct fstate *s;
    size_t id;

    if (!e || !id_ok(device, LW_DEVICE_MAX))
        return LW_ERR_INVAL;
    id = e->fx ? tag_lookup(e->fx, fence_tag) : NO_FENCE;
    if (id == NO_FENCE)
        return LW_ERR_NOTFOUND;
    d = dev_get(e, device);
    if (!d)
        return LW_ERR_NOMEM;
    if (d->flags & DEV_HAS_NEWEST) {
        /* the alert may be old: if the newest fix is clearly back on the
         * good side, the stay is over and the fence is armed again */
        struct lw_fix f;
        struct side sd;

        newest_fix(d, &f);
        sd = side_of(e, id,
                     lw_fence_contains(e->fx->set, id, f.lat_deg, f.lon_deg),
                     &f, true);
        if (!sd.bad && sd.far)
            return LW_OK;
    }
    s = fs_find(d, fence_tag);
    if (!s)
        s = fs_add(d, fence_tag, e->fx->meta[id].kind);
    if (!s)
        return LW_ERR_NOMEM;
    s->run = 0;
    s->since_ms = since_ms;
    s->flags |= FS_BAD | FS_ALERTED;
    if (dwell_done)
        s->flags |= FS_DWELL_DONE;
    /* links may not apply (any more): the usual rule drops the state */
    prune_dev(e, d);
    reschedule(e, d);
    return LW_OK;
}

size_t lw_engine_devices(const struct lw_engine *e)
{
    return e ? e->devs.n : 0;
}

enum lw_err lw_engine_restore_stay(struct lw_engine *e, const char *device,
                                   double lat_deg, double lon_deg,
                                   int64_t since_ms, bool alerted)
{
    struct dev *d;

    if (!e || !id_ok(device, LW_DEVICE_MAX))
        return LW_ERR_INVAL;
    if (!lw_geo_valid(lat_deg, lon_deg))
        return LW_ERR_RANGE;
    d = dev_get(e, device);
    if (!d)
        return LW_ERR_NOMEM;
    d->stay_lat_deg = lat_deg;
    d->stay_lon_deg = lon_deg;
    d->stay_ms = since_ms;
    d->flags |= DEV_HAS_STAY;
    if (alerted)
        d->flags |= DEV_PARKED_DONE;
    else
        d->flags &= (uint16_t)~DEV_PARKED_DONE;
    return LW_OK;
}
