/*
 * placewatch.c - see placewatch.h.
 */
#include <math.h>
#include <string.h>

#include "lienwatch/placewatch.h"

enum lw_err lw_placewatch_judge(const struct lw_places *pl,
                                const struct lw_placewatch_cfg *cfg,
                                struct lw_placewatch_state *st,
                                struct lw_placewatch_out *out)
{
    const struct lw_places_stop *cur;
    struct lw_places_overnight o;
    enum lw_err e;
    double d;

    if (!pl || !cfg || !st || !out)
        return LW_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    out->from_usual_m = NAN;
    out->move_m = NAN;
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
