/*
 * alertjson.c - see alertjson.h. Built with jansson; never printf'd JSON.
 */
#include <math.h>
#include <stdio.h>

#include "lienwatch/alertjson.h"
#include "lienwatch/geo.h"
#include "lienwatch/timeutil.h"

/* Milliseconds per second, for the *_s fields. */
#define MS_PER_S 1000.0

json_t *lw_json_num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *lw_json_str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static json_t *time_or_null(int64_t ms)
{
    char buf[LW_TIME_BUFLEN];

    return ms ? json_string(lw_time_format(ms, buf, sizeof(buf)))
              : json_null();
}

json_t *lw_fix_to_json(const struct lw_fix *f)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    json_object_set_new(o, "lat", json_real(f->lat_deg));
    json_object_set_new(o, "lon", json_real(f->lon_deg));
    json_object_set_new(o, "fix_time", time_or_null(f->fix_time_ms));
    json_object_set_new(o, "received_time", time_or_null(f->recv_time_ms));
    json_object_set_new(o, "accuracy_m", lw_json_num_or_null(f->accuracy_m));
    json_object_set_new(o, "speed_mps", lw_json_num_or_null(f->speed_mps));
    json_object_set_new(o, "course_deg", lw_json_num_or_null(f->course_deg));
    return o;
}

json_t *lw_alert_to_json(const struct lw_alert_row *r,
                         const struct lw_vehicle *v,
                         const struct lw_account *acct)
{
    const struct lw_alert *a = &r->a;
    json_t *o = json_object();
    char buf[160];

    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "kind", json_string(lw_alert_kind_name(a->kind)));
    json_object_set_new(o, "state",
                        json_string(lw_alert_state_name(r->state)));
    json_object_set_new(o, "device", json_string(a->device));
    json_object_set_new(o, "vin", lw_json_str_or_null(v ? v->vin : NULL));
    json_object_set_new(o, "plate", lw_json_str_or_null(v ? v->plate : NULL));
    json_object_set_new(o, "description",
                        lw_json_str_or_null(v ? v->description : NULL));
    json_object_set_new(o, "account", lw_json_str_or_null(v ? v->account : NULL));
    json_object_set_new(o, "days_past_due",
                        acct ? json_integer(acct->days_past_due)
                             : json_null());
    json_object_set_new(o, "geofence", lw_json_str_or_null(a->fence));
    json_object_set_new(o, "opened_at", time_or_null(a->raised_ms));
    if (a->has_fix) {
        json_object_set_new(o, "fix", lw_fix_to_json(&a->fix));
        json_object_set_new(
            o, "osm_url",
            json_string(lw_osm_url(a->fix.lat_deg, a->fix.lon_deg, buf,
                                   sizeof(buf))));
        json_object_set_new(
            o, "geo_uri",
            json_string(lw_geo_uri(a->fix.lat_deg, a->fix.lon_deg,
                                   a->fix.accuracy_m, buf, sizeof(buf))));
    } else {
        json_object_set_new(o, "fix", json_null());
    }
    json_object_set_new(o, "late", json_boolean(a->late));
    if (a->late)
        json_object_set_new(o, "age_s",
                            json_real((double)a->age_ms / MS_PER_S));
    if (a->kind == LW_ALERT_OFFLINE || a->kind == LW_ALERT_BACK_ONLINE) {
        json_object_set_new(o, "gap_s",
                            json_real((double)a->gap_ms / MS_PER_S));
        json_object_set_new(o, "moved_m", lw_json_num_or_null(a->moved_m));
    }
    if (a->kind == LW_ALERT_OFFLINE)
        json_object_set_new(o, "jamming_suspected",
                            json_boolean(a->jamming_suspected));
    if (a->other.device[0]) /* the vehicle's other tracker */
        json_object_set_new(
            o, "other",
            json_pack("{s:s, s:o, s:o}", "device", a->other.device, "fix",
                      a->other.has_fix ? lw_fix_to_json(&a->other.fix)
                                       : json_null(),
                      "distance_m", lw_json_num_or_null(a->other.distance_m)));
    json_object_set_new(o, "acknowledged_by", lw_json_str_or_null(r->ack_by));
    json_object_set_new(o, "acknowledged_at", time_or_null(r->ack_ms));
    json_object_set_new(o, "note", lw_json_str_or_null(r->ack_note));
    json_object_set_new(o, "closed_at", time_or_null(r->closed_ms));
    return o;
}
