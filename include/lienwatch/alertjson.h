/*
 * alertjson.h - the one JSON shape of an alert, shared by the CLI
 * (`lienwatch alerts --json`), the MQTT alert topic and the state topic.
 *
 * Keys: id, kind, state, device, vin, plate, description, account,
 * days_past_due, geofence (null when none), opened_at (ISO 8601 UTC, the
 * daemon's clock), fix {lat, lon, fix_time, accuracy_m, speed_mps,
 * course_deg} or null, late, age_s (late only), gap_s and moved_m
 * (offline/back_online; moved_m null when unknown), acknowledged_by,
 * acknowledged_at, note, closed_at, osm_url, geo_uri.
 */
#ifndef LIENWATCH_ALERTJSON_H
#define LIENWATCH_ALERTJSON_H

#include <jansson.h>

#include "lienwatch/registry.h"

/*
 * Returns a new JSON object (caller owns the reference) for alert row r.
 * v and acct (borrowed, may be NULL) add the vehicle's and the account's
 * details. NULL when out of memory.
 */
json_t *lw_alert_to_json(const struct lw_alert_row *r,
                         const struct lw_vehicle *v,
                         const struct lw_account *acct);

/* Same for a fix alone: {lat, lon, fix_time, accuracy_m, speed_mps,
 * course_deg, received_time}; unknown values are null. */
json_t *lw_fix_to_json(const struct lw_fix *f);

/* A JSON string of s, or null when s is NULL or "". */
json_t *lw_json_str_or_null(const char *s);
/* A JSON real of v, or null when v is NaN or infinite (unknown). */
json_t *lw_json_num_or_null(double v);

#endif
