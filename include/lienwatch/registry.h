/*
 * registry.h - vehicles, accounts, geofences and alerts in the store.
 *
 * These tables come with schema migration 2 (lib/schema.c). They are
 * written by the CLI (operations staff: vehicle/account/geofence commands,
 * alert acknowledgement) and by the daemon (account status from MQTT,
 * alerts it raises), and read by both. Implemented in lib/registry.c on the
 * store's connection.
 *
 * Change detection: every registry write (vehicles, accounts, geofences,
 * links) bumps the value "registry_version" of table meta, every alert
 * lifecycle change (ack, close) bumps "alerts_version", in the same
 * transaction (lw_registry_version reads them). The daemon polls
 * lw_store_data_version() (store.h; PRAGMA data_version: changes when
 * another connection commits) every second and, when it moved, compares
 * these two versions to decide what to reload.
 *
 * Transactions: a function that writes more than one row (and bumps a
 * version) runs in the caller's transaction when one is open, else in one
 * of its own (BEGIN IMMEDIATE), so it is all or nothing either way.
 *
 * Errors: every function returns LW_OK or LW_ERR_INVAL for a NULL handle
 * or required argument, as stated per function, and otherwise the database
 * classes of store.h (LW_ERR_BUSY, LW_ERR_FULL, LW_ERR_READONLY (also for
 * a write on a read-only handle), LW_ERR_IO, LW_ERR_CORRUPT, LW_ERR_NOMEM,
 * LW_ERR_DB: "a database error" below), with the detail in lw_store_errmsg.
 *
 * Strings passed in are borrowed; structs passed to callbacks (and the
 * strings they point to, such as a fence's geojson) are valid during the
 * call only. Times are ms since the epoch (UTC).
 */
#ifndef LIENWATCH_REGISTRY_H
#define LIENWATCH_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/alert.h"
#include "lienwatch/decode.h"
#include "lienwatch/err.h"
#include "lienwatch/fence.h"
#include "lienwatch/fix.h"
#include "lienwatch/store.h"

/* Longest VIN / plate / description, without the NUL. */
#define LW_VIN_MAX 32
#define LW_PLATE_MAX 32
#define LW_DESCRIPTION_MAX 256
/* Longest geofence name, without the NUL (same as in alerts). */
#define LW_FENCE_NAME_MAX LW_ALERT_FENCE_MAX

struct lw_vehicle {
    char device[LW_DEVICE_MAX + 1];          /* key */
    char vin[LW_VIN_MAX + 1];                /* "" when unknown */
    char plate[LW_PLATE_MAX + 1];            /* "" when unknown */
    char description[LW_DESCRIPTION_MAX + 1]; /* make, model, colour (UTF-8) */
    char account[LW_ACCOUNT_MAX + 1];        /* "" when none */
    int64_t offline_after_ms;                /* 0 = daemon default */
    int64_t registered_ms;                   /* first registration */
    int64_t updated_ms;                      /* last change */
};

struct lw_account {
    char account[LW_ACCOUNT_MAX + 1]; /* key */
    int days_past_due;                /* >= 0 */
    char status[LW_STATUS_MAX + 1];   /* free text, may be "" */
    int64_t updated_ms;               /* last change */
    char source[16];                  /* "cli", "import", "mqtt" */
};

struct lw_geofence {
    int64_t id;                        /* database id (the fence's tag) */
    char name[LW_FENCE_NAME_MAX + 1];  /* unique */
    enum lw_fence_kind kind;           /* keep_in / keep_out */
    int64_t max_dwell_ms;              /* keep_out dwell limit, 0 = none */
    double min_lat, min_lon, max_lat, max_lon; /* bounding box */
    char link_device[LW_DEVICE_MAX + 1];  /* "" or the one device */
    char link_account[LW_ACCOUNT_MAX + 1]; /* "" or the one account */
    const char *geojson;               /* the fence's GeoJSON (callbacks) */
};

/* Lifecycle of a stored alert. */
enum lw_alert_state {
    LW_ALERT_OPEN = 1,     /* "open" */
    LW_ALERT_ACKNOWLEDGED, /* "acknowledged" */
    LW_ALERT_CLOSED,       /* "closed" */
};

/* "open", "acknowledged", "closed"; "unknown" otherwise (static). */
const char *lw_alert_state_name(enum lw_alert_state s);

/* A stored alert with its lifecycle. */
struct lw_alert_row {
    int64_t id;                 /* database id */
    struct lw_alert a;          /* what the engine raised */
    enum lw_alert_state state;  /* lifecycle */
    char ack_by[64];            /* who acknowledged, "" */
    char ack_note[256];         /* their note, "" */
    int64_t ack_ms;             /* when, 0 */
    int64_t closed_ms;          /* when closed, 0 */
    bool published;            /* acknowledged by the broker */
};

/* ---- vehicles ---------------------------------------------------------- */

/*
 * Creates or updates the vehicle of v->device. Fields given as "" (strings)
 * or < 0 (offline_after_ms) in v keep their stored value on an update;
 * registered_ms is set on creation (now_ms), updated_ms to now_ms. Bumps
 * registry_version. Returns LW_OK; LW_ERR_INVAL for a NULL argument, an
 * empty device or a string field without its NUL; or a database error.
 */
enum lw_err lw_registry_vehicle_set(struct lw_store *s,
                                    const struct lw_vehicle *v,
                                    int64_t now_ms);

/* Reads the vehicle of device into *out (copied). Returns LW_OK,
 * LW_ERR_NOTFOUND when device has none (nothing recorded), LW_ERR_INVAL or
 * a database error. */
enum lw_err lw_registry_vehicle_get(struct lw_store *s, const char *device,
                                    struct lw_vehicle *out);

/* Called per vehicle; returns 0 to go on, non-zero to stop (not an error). */
typedef int (*lw_vehicle_cb)(void *ctx, const struct lw_vehicle *v);

/* Calls cb for every vehicle, by device. Returns LW_OK (also when cb
 * stopped early), LW_ERR_INVAL or a database error. */
enum lw_err lw_registry_vehicles(struct lw_store *s, lw_vehicle_cb cb,
                                 void *ctx);

/* The vehicles registered on account, by device (vehicles_by_account).
 * Returns as lw_registry_vehicles. */
enum lw_err lw_registry_account_vehicles(struct lw_store *s,
                                         const char *account,
                                         lw_vehicle_cb cb, void *ctx);

/*
 * A tracker taken out of its vehicle: device (borrowed) is queued in purges
 * (migration 6) with reason "removed", so its fixes are no longer stored
 * (LW_PUT_ENDED) and its vehicle is not watched; its open alerts are
 * closed. With purge, lienwatchd deletes its positions at once (store.h,
 * lw_store_purge_step); without, they stay until retention. The vehicle
 * record stays (the registry keeps which trackers a vehicle had). Works for
 * an unregistered device too; *registered (may be NULL) tells whether a
 * vehicle was registered with it. In the caller's transaction, or one of
 * its own. Returns LW_OK, LW_ERR_INVAL or a database error.
 */
enum lw_err lw_registry_vehicle_remove(struct lw_store *s, const char *device,
                                       bool purge, int64_t now_ms,
                                       bool *registered);

/* Called per device id; returns 0 to go on, non-zero to stop. */
typedef int (*lw_device_id_cb)(void *ctx, const char *device);

/* Calls cb for every device removed with lw_registry_vehicle_remove, by
 * id. Returns as lw_registry_vehicles. */
enum lw_err lw_registry_removed(struct lw_store *s, lw_device_id_cb cb,
                                void *ctx);

/* ---- vehicles with several trackers: install records (migration 9) ------
 *
 * A vehicle (table fleet) is an entity of its own, keyed by the loose form
 * of its VIN (see lw_registry_vehicle_find: ASCII upper case, no spaces,
 * tabs, hyphens or dots), or by its id alone when the VIN is unknown. Its
 * install records (vehicle_devices) say which tracker was in it, in which
 * role, since when and until when; they are kept after a detach. A device
 * is attached to at most one vehicle at a time (a unique index). The
 * vehicles table above stays the per-device registry (account, allowance,
 * plate, description, VIN as typed).
 *
 * lw_registry_vehicle_set keeps the two in step: a device registered for
 * the first time is attached to the vehicle of its VIN (created when new),
 * or to a vehicle of its own when it has none; a device given a VIN it was
 * not attached under is moved there (the vehicle it was in gets the VIN
 * when it had none and no other vehicle has it; otherwise the old record is
 * detached and a new one attached).
 */

/* Longest installer name, disclosure date ("YYYY-MM-DD"), without NUL. */
#define LW_INSTALLER_MAX 64
#define LW_DATE_MAX 10
/* Longest role ("wired", "hidden"), without NUL. */
#define LW_ROLE_MAX 6
/* The prefix of a vehicle named by its id ("id:12"): VINs have no ':'. */
#define LW_FLEET_ID_PREFIX "id:"

/* One install record. */
struct lw_install {
    int64_t id;                              /* record id */
    int64_t vehicle_id;                      /* fleet id */
    char vin[LW_VIN_MAX + 1];                /* the vehicle's key: loose VIN,
                                                "" when unknown */
    char device[LW_DEVICE_MAX + 1];          /* the tracker */
    char role[LW_ROLE_MAX + 1];              /* "wired", "hidden" or "" */
    int64_t installed_ms;                    /* when fitted, 0 = unknown */
    char installer[LW_INSTALLER_MAX + 1];    /* who fitted it, "" */
    char disclosure_signed[LW_DATE_MAX + 1]; /* date the borrower signed the
                                                tracker disclosure, "" */
    int64_t attached_ms;                     /* when recorded */
    int64_t detached_ms;                     /* when taken out; 0 while in */
};

/* True for "", "wired" and "hidden". */
bool lw_registry_role_ok(const char *role);

/* True for a calendar date written YYYY-MM-DD (years 1900-9999). */
bool lw_registry_date_ok(const char *date);

/*
 * Finds the vehicle named by key: "id:N" (its id), otherwise a VIN,
 * compared loosely. *vehicle_id gets its id, vin (LW_VIN_MAX + 1 bytes, may
 * be NULL) its key. Returns LW_OK, LW_ERR_NOTFOUND (recorded: "no vehicle
 * with the VIN ..."), LW_ERR_INVAL for NULL or empty arguments, or a
 * database error.
 */
enum lw_err lw_registry_fleet_find(struct lw_store *s, const char *key,
                                   int64_t *vehicle_id, char *vin);

/*
 * Attaches in->device to the vehicle named by key (as lw_registry_fleet_find;
 * a VIN not known yet creates the vehicle) with in's role, installed_ms,
 * installer and disclosure_signed (the other fields of in are ignored),
 * attached_ms = now_ms. The device's registry row (vehicles) is created when
 * it has none, and gets the vehicle's VIN (its loose form: upper case, no
 * spaces, hyphens or dots); its empty plate, description and
 * account are filled from another device attached to the same vehicle. A
 * device alone in a vehicle without a VIN (registered without one) is
 * moved: that record ends at now_ms. *out (may be NULL) gets the new
 * record. Bumps registry_version. In the
 * caller's transaction or one of its own. Returns LW_OK; LW_ERR_EXISTS when
 * the device is attached already (to this vehicle, or to another with a
 * VIN or other trackers: recorded, naming it); LW_ERR_NOTFOUND for an "id:N" that names no vehicle;
 * LW_ERR_INVAL for NULL or empty arguments, a bad role or date, or a key
 * that is empty once loosened; a database error otherwise.
 */
enum lw_err lw_registry_attach(struct lw_store *s, const char *key,
                               const struct lw_install *in, int64_t now_ms,
                               struct lw_install *out);

/*
 * Detaches device from the vehicle named by key at at_ms (the record is
 * kept, detached_ms = at_ms); the device's registry row loses that VIN
 * (updated_ms = now_ms). *out (may be NULL) gets the record. Bumps
 * registry_version. In the caller's transaction or one of its own. Returns LW_OK;
 * LW_ERR_NOTFOUND when the vehicle is unknown or the device is not attached
 * to it (recorded); LW_ERR_RANGE when at_ms is before the record's install
 * or attach time (recorded); LW_ERR_INVAL; or a database error.
 */
enum lw_err lw_registry_detach(struct lw_store *s, const char *key,
                               const char *device, int64_t at_ms,
                               int64_t now_ms, struct lw_install *out);

/* Called per install record; returns 0 to go on, non-zero to stop. */
typedef int (*lw_install_cb)(void *ctx, const struct lw_install *r);

/* The install records of vehicle_id, current ones first (by attach time),
 * then past ones (newest detach first); with current_only, the devices in
 * it now. Returns as lw_registry_vehicles. */
enum lw_err lw_registry_installs(struct lw_store *s, int64_t vehicle_id,
                                 bool current_only, lw_install_cb cb,
                                 void *ctx);

/* Every install record of device, newest first. Returns as
 * lw_registry_vehicles. */
enum lw_err lw_registry_device_installs(struct lw_store *s,
                                        const char *device, lw_install_cb cb,
                                        void *ctx);

/* The record of the vehicle device is in now into *out. Returns LW_OK,
 * LW_ERR_NOTFOUND (in none), LW_ERR_INVAL or a database error. */
enum lw_err lw_registry_vehicle_of(struct lw_store *s, const char *device,
                                   struct lw_install *out);

/*
 * The fixes of every device that was ever in vehicle_id, each only while it
 * was in it (from its install time, when recorded, to its detach time), and
 * with from_ms <= fix time <= to_ms, in fix-time order (then by device),
 * each carrying its device. Returns as lw_store_history (store.h).
 */
enum lw_err lw_registry_vehicle_history(struct lw_store *s, int64_t vehicle_id,
                                        int64_t from_ms, int64_t to_ms,
                                        lw_fix_cb cb, void *ctx);

/* The same for one device of the vehicle alone (a track per tracker, for
 * the map formats). */
enum lw_err lw_registry_vehicle_track(struct lw_store *s, int64_t vehicle_id,
                                      const char *device, int64_t from_ms,
                                      int64_t to_ms, lw_fix_cb cb, void *ctx);

/* Every current install record, by vehicle id then device: the daemon's
 * grouping of devices into vehicles. Returns as lw_registry_vehicles. */
enum lw_err lw_registry_attached(struct lw_store *s, lw_install_cb cb,
                                 void *ctx);

/* ---- accounts ---------------------------------------------------------- */

/*
 * Creates or updates an account (all of a's fields). Bumps registry_version
 * only when days_past_due or status changed: an unchanged retained message,
 * re-sent on every reconnection, is no change. Returns LW_OK; LW_ERR_INVAL
 * for a NULL argument, an empty account, days_past_due < 0 or a string
 * field without its NUL; or a database error.
 */
enum lw_err lw_registry_account_set(struct lw_store *s,
                                    const struct lw_account *a);

/* Reads account into *out (copied). Returns LW_OK, LW_ERR_NOTFOUND (nothing
 * recorded), LW_ERR_INVAL or a database error. */
enum lw_err lw_registry_account_get(struct lw_store *s, const char *account,
                                    struct lw_account *out);

/* Called per account; returns 0 to go on, non-zero to stop. */
typedef int (*lw_account_cb)(void *ctx, const struct lw_account *a);

/* Calls cb for every account, by id. Returns as lw_registry_vehicles. */
enum lw_err lw_registry_accounts(struct lw_store *s, lw_account_cb cb,
                                 void *ctx);

/* ---- geofences --------------------------------------------------------- */

/*
 * Adds a fence (g->geojson is one Feature or geometry, validated by the
 * caller with lw_fenceset_add_geojson). *id (may be NULL) gets its database
 * id. A fence with the same name is replaced in place and keeps its id (the
 * daemon's tag for it, carried by its alerts). Bumps registry_version; keeps
 * the R*Tree index (geofence_rtree) in step. Returns LW_OK; LW_ERR_INVAL for
 * NULL or empty arguments, unterminated strings or a bad kind; LW_ERR_RANGE
 * for a bounding box that is not finite, outside WGS-84 or inverted; a
 * database error otherwise. Joins the caller's transaction when one is open.
 */
enum lw_err lw_registry_fence_add(struct lw_store *s,
                                  const struct lw_geofence *g, int64_t now_ms,
                                  int64_t *id);
/* Removes the fence name (and its R*Tree row), bumping registry_version;
 * its alerts stay. Returns LW_OK, LW_ERR_NOTFOUND when there is no such
 * fence (recorded), LW_ERR_INVAL or a database error. */
enum lw_err lw_registry_fence_remove(struct lw_store *s, const char *name);

/* Called per fence (g and g->geojson valid during the call); returns 0 to
 * go on, non-zero to stop. */
typedef int (*lw_geofence_cb)(void *ctx, const struct lw_geofence *g);

/*
 * Calls cb for every fence, by name. The bounding boxes reported (here and
 * by lw_registry_fences_at) are the R*Tree's: 32-bit floats rounded
 * outwards, so they hold the box stored, within ~1e-5 degrees. Returns as
 * lw_registry_vehicles.
 */
enum lw_err lw_registry_fences(struct lw_store *s, lw_geofence_cb cb,
                               void *ctx);

/* Calls cb for the fences whose bounding box holds (lat, lon), through the
 * R*Tree, by name. Returns as lw_registry_vehicles. */
enum lw_err lw_registry_fences_at(struct lw_store *s, double lat_deg,
                                  double lon_deg, lw_geofence_cb cb,
                                  void *ctx);

/* ---- alerts ------------------------------------------------------------ */

/*
 * Stores a raised alert (copied; state open, unpublished); *id (may be
 * NULL) gets its id. Does not begin or commit. Returns LW_OK; LW_ERR_INVAL
 * for a NULL argument, an empty device, an unterminated string or an
 * unknown kind; or a database error.
 */
enum lw_err lw_registry_alert_add(struct lw_store *s, const struct lw_alert *a,
                                  int64_t *id);

/* Marks alert id as acknowledged by the broker (published). Returns LW_OK
 * (also for an unknown id), LW_ERR_INVAL or a database error. */
enum lw_err lw_registry_alert_published(struct lw_store *s, int64_t id);

/*
 * Acknowledges alert id (by: who, not empty; note: may be NULL) or closes
 * it, at now_ms, and bumps alerts_version; the state is read inside the
 * write transaction, so an alert another connection closed meanwhile is
 * not acknowledged. Acknowledging an acknowledged alert again replaces who
 * and the note. Returns LW_OK; LW_ERR_NOTFOUND for an unknown id;
 * LW_ERR_INVAL for a closed alert ("already closed" recorded), a NULL
 * handle or an empty by; or a database error.
 */
enum lw_err lw_registry_alert_ack(struct lw_store *s, int64_t id,
                                  const char *by, const char *note,
                                  int64_t now_ms);
enum lw_err lw_registry_alert_close(struct lw_store *s, int64_t id,
                                    int64_t now_ms);

/* Reads alert id into *out (copied). Returns LW_OK, LW_ERR_NOTFOUND ("no
 * alert N" recorded), LW_ERR_INVAL or a database error. */
enum lw_err lw_registry_alert_get(struct lw_store *s, int64_t id,
                                  struct lw_alert_row *out);

/* Filter for lw_registry_alerts. */
struct lw_alert_filter {
    const char *device;   /* NULL = any */
    bool open_only;       /* open or acknowledged, not closed */
    bool unpublished_only; /* not yet acknowledged by the broker */
    int64_t changed_since_ms; /* ack/close/open at or after; 0 = any */
};
/* Called per alert; returns 0 to go on, non-zero to stop. */
typedef int (*lw_alert_row_cb)(void *ctx, const struct lw_alert_row *r);

/* Calls cb for the alerts matching f (NULL = all), oldest first. Returns as
 * lw_registry_vehicles. */
enum lw_err lw_registry_alerts(struct lw_store *s,
                               const struct lw_alert_filter *f,
                               lw_alert_row_cb cb, void *ctx);

/* ---- change detection -------------------------------------------------- */

/* Reads meta "registry_version" and "alerts_version" into the non-NULL
 * pointers (0 when unset). Returns LW_OK, LW_ERR_INVAL or a database error
 * (the values then 0). lw_store_data_version (store.h) says when to. */
enum lw_err lw_registry_version(struct lw_store *s, int64_t *registry,
                                int64_t *alerts);

/* ---- finding a vehicle by what an agent has in hand --------------------- */

/* What lw_registry_vehicle_find compares its text with. */
enum lw_vehicle_key {
    LW_VEHICLE_BY_ANY = 0, /* the device id, the plate or the VIN */
    LW_VEHICLE_BY_DEVICE,  /* the device id only, exactly */
    LW_VEHICLE_BY_PLATE,   /* the plate only, loosely (see below) */
    LW_VEHICLE_BY_VIN,     /* the VIN only, loosely */
};

/* One device a lookup found. */
struct lw_vehicle_match {
    struct lw_vehicle v; /* the registered vehicle; only v.device is set
                            when the device is not registered */
    bool registered;     /* v comes from the registry */
    bool by_device;      /* the text is the device id */
    bool by_plate;       /* the text is the plate, loosely */
    bool by_vin;         /* the text is the VIN, loosely */
};

/*
 * Finds the devices that text, as a person typed it, names. A device id
 * (a tracker that reported, or a registered vehicle's device) matches when
 * it is equal to text: ids are MQTT topic levels, where case matters.
 * Plates and VINs match loosely: both sides are compared with ASCII letters
 * folded to upper case and spaces, tabs, hyphens and dots removed, so
 * "b-lw 123", "BLW123" and "B LW-123" all find the plate "B-LW 123" (other
 * characters, non-ASCII letters included, must be equal). A text that is
 * empty once loosened matches no plate or VIN. A device that matches
 * several ways (its id and its plate) is one match with each way flagged.
 *
 * Stores the first max matches, ordered by device, into out (max may be 0,
 * out then NULL) and the number of all matches into *n: 0 means none, 1 the
 * one vehicle meant, more an ambiguous text. Reads only. Device ids are
 * looked up by key; plates and VINs by a scan of the vehicles (0.1-0.4 s
 * for 100,000 vehicles on a 2-core VM: an index on the loose forms would
 * need a migration).
 *
 * Returns LW_OK (also when nothing matched); LW_ERR_INVAL for NULL or empty
 * arguments or an unknown key; a database error otherwise (detail in
 * lw_store_errmsg). text is borrowed.
 */
enum lw_err lw_registry_vehicle_find(struct lw_store *s, enum lw_vehicle_key by,
                                     const char *text,
                                     struct lw_vehicle_match *out, size_t max,
                                     size_t *n);

#endif
