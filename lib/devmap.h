/*
 * devmap.h - the watch's per-device cache for the state topic: the newest
 * fix, last heard, when the state was last published, and the parts of the
 * state that come from the database (vehicle, account, open alerts), kept
 * as plain C until something invalidates it (as a jansson object the same
 * part cost about 700 bytes per device: a hash table per object).
 *
 * Open addressing with linear probing on a power-of-two table of pointers
 * (an empty slot costs 8 bytes, an entry about 100 plus its id); entries are
 * never removed (devices are few compared to fixes, and a device that
 * reported once is kept in the database too).
 *
 * Private to lib/ (lib/watch.c): not installed, not for the programs.
 */
#ifndef LIENWATCH_DEVMAP_H
#define LIENWATCH_DEVMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/alert.h"
#include "lienwatch/fix.h"
#include "lienwatch/placewatch.h"
#include "lienwatch/registry.h"

/* An open alert of a device, as its state topic shows it. */
struct lw_dalert {
    int64_t id;                /* database id */
    enum lw_alert_kind kind;   /* what happened */
    enum lw_alert_state state; /* open or acknowledged */
    int64_t opened_ms;         /* when it was raised */
    char *fence;               /* fence name, NULL when none */
};

/* What the database says of a device: its vehicle, account and open
 * alerts. Strings are NULL when unknown. */
struct lw_dextras {
    char *vin, *plate, *description, *account;
    bool has_days_past_due;  /* the account is known */
    int64_t days_past_due;   /* of the account */
    size_t nalerts;          /* open alerts, oldest first */
    struct lw_dalert *alerts;
    /* its vehicle when it is in one with other trackers (registry.h,
     * install records): the VIN or "id:N", its role, all its trackers */
    char *fleet;             /* NULL when none */
    char *role;              /* "wired", "hidden", NULL */
    char **trackers;         /* the vehicle's trackers now, by id */
    size_t ntrackers;        /* entries in trackers */
};

/* Frees x and what it owns (NULL is fine). */
void lw_dextras_free(struct lw_dextras *x);

struct lw_dstate {
    char *device;         /* owned copy of the id */
    bool has_fix;         /* the fix fields below are set */
    double lat_deg, lon_deg; /* newest fix by fix time */
    double speed_mps, course_deg, accuracy_m; /* of that fix; NAN unknown */
    int64_t fix_time_ms;  /* its fix time */
    int64_t recv_time_ms; /* when it arrived */
    int64_t last_heard_ms; /* latest message, our clock */
    int64_t last_pub_ms;  /* state last published, 0 never */
    bool dirty;           /* state changed since last publication */
    bool urgent;          /* publish without waiting for the interval */
    struct lw_dextras *extras; /* vehicle/account/alerts; NULL = rebuild */
    struct lw_placewatch_state pw; /* new_overnight_place, long_move */
    int64_t pw_fix_ms;    /* fix time of the last places check, 0 never */
    bool pw_queued;       /* a places computation waits (watch.c) */
    bool stay_checked;    /* its parked_long stay was looked up in the
                             history since the start (watch.c) */
    char *places_text;    /* top places for an offline mail, from the last
                             computation (lw_outbox_places_format); NULL:
                             none yet. Owned */
};

struct lw_devmap {
    struct lw_dstate **slots; /* table of owned entries; NULL = empty */
    size_t cap;           /* power of two */
    size_t count;         /* used slots */
};

/* Finds device's entry, creating it when create is true; NULL when absent
 * (or out of memory). Pointers stay valid until the next creation. */
struct lw_dstate *lw_devmap_get(struct lw_devmap *m, const char *device,
                               bool create);

/* Calls fn for every entry. */
void lw_devmap_each(struct lw_devmap *m,
                    void (*fn)(void *ctx, struct lw_dstate *d), void *ctx);

/* Frees every entry and the table. */
void lw_devmap_release(struct lw_devmap *m);

#endif
