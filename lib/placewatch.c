/*
 * placewatch.c - see placewatch.h.
 */
#include <math.h>
#include <string.h>

#include "lienwatch/geo.h"
#include "lienwatch/placewatch.h"

bool lw_placewatch_move(struct lw_placewatch_state *st, double lat_deg,
                        double lon_deg, double long_move_m, double *dist_m)
{
    double d;

    if (dist_m)
        *dist_m = NAN;
    if (!st || !st->has_night_place || !(long_move_m > 0) ||
        st->watched_from_ms <= 0)
        return false;
    d = lw_geo_distance_m(st->night_lat_deg, st->night_lon_deg, lat_deg,
                          lon_deg);
    if (dist_m)
        *dist_m = d;
    if (d <= long_move_m) {
        st->away = false;
        return false;
    }
    if (st->away)
        return false;
    st->away = true;
    return true;
}

enum lw_err lw_placewatch_judge(const struct lw_places *pl,
                                const struct lw_placewatch_cfg *cfg,
                                struct lw_placewatch_state *st,
                                struct lw_placewatch_out *out)
{
    const struct lw_places_stop *cur;
    const struct lw_place *np;
    struct lw_places_overnight o;
    enum lw_err e;
    double d;

    if (!pl || !cfg || !st || !out)
        return LW_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    out->from_usual_m = NAN;
    out->move_m = NAN;
    np = lw_places_night_place(pl);
    st->has_night_place = np != NULL;
    if (np) {
        st->night_lat_deg = np->lat_deg;
        st->night_lon_deg = np->lon_deg;
    }
    cur = lw_places_current(pl);
    if (!cur || st->watched_from_ms <= 0)
        return LW_OK;
    out->cur_lat_deg = cur->lat_deg;
    out->cur_lon_deg = cur->lon_deg;

    /* a night at a new place: a real stop whose first night (what
     * lw_places_overnight judges; one alert per stay) is since watched */
    if (cfg->new_place_m > 0 && cur->nights > 0 &&
        cur->end_ms - cur->start_ms >= LW_PLACES_MIN_STOP_MS &&
        cur->night_ms >= st->watched_from_ms &&
        cur->night_ms > st->last_new_night_ms) {
        e = lw_places_overnight(pl, cur, cfg->new_place_m, 0, &o);
        if (e != LW_OK)
            return e;
        if (o.is_new) {
            out->new_night = true;
            out->night_ms = cur->night_ms;
            out->lat_deg = cur->lat_deg;
            out->lon_deg = cur->lon_deg;
            out->from_usual_m = o.usual_m;
            st->last_new_night_ms = cur->night_ms;
        }
    }

    /* far from the usual night place: once per trip */
    d = lw_places_night_distance_m(pl, cur->lat_deg, cur->lon_deg);
    if (isnan(d) || !(cfg->long_move_m > 0))
        return LW_OK;
    out->move_m = d;
    if (d > cfg->long_move_m && !st->away) {
        out->long_move = true;
        st->away = true;
    } else if (d <= cfg->long_move_m) {
        st->away = false;
    }
    return LW_OK;
}
