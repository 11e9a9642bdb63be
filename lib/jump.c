/*
 * jump.c - see jump.h.
 */
#include <math.h>
#include <stddef.h>

#include "lienwatch/geo.h"
#include "lienwatch/jump.h"

static struct lw_jump_pt pt_of(const struct lw_fix *f)
{
    return (struct lw_jump_pt){
        .fix_time_ms = f->fix_time_ms,
        .lat_deg = f->lat_deg,
        .lon_deg = f->lon_deg,
        .accuracy_m = f->accuracy_m,
    };
}

/* Accuracy known, non-negative and under the limit. */
static bool precise(double acc_m, double max_accuracy_m)
{
    return lw_has(acc_m) && acc_m >= 0 && acc_m < max_accuracy_m;
}

bool lw_jump_is_jump(const struct lw_jump_pt *p, const struct lw_jump_pt *f,
                     double max_speed_mps, double max_accuracy_m,
                     double *speed_mps)
{
    double d, excess, speed;
    int64_t dt;

    if (speed_mps)
        *speed_mps = NAN;
    if (!p || !f || !(max_speed_mps > 0) ||
        !precise(p->accuracy_m, max_accuracy_m) ||
        !precise(f->accuracy_m, max_accuracy_m))
        return false;
    d = lw_geo_distance_m(p->lat_deg, p->lon_deg, f->lat_deg, f->lon_deg);
    excess = d - p->accuracy_m - f->accuracy_m;
    dt = f->fix_time_ms - p->fix_time_ms;
    if (dt < 0)
        dt = -dt;
    if (excess <= 0)
        speed = 0;
    else if (dt == 0)
        speed = INFINITY;
    else
        speed = excess / ((double)dt / 1000.0);
    if (speed_mps)
        *speed_mps = speed;
    return speed > max_speed_mps;
}

void lw_jump_seed(struct lw_jump_state *st, const struct lw_fix *f)
{
    if (!st || !f)
        return;
    st->accepted = pt_of(f);
    st->has_accepted = true;
    st->has_suspect = false;
}

enum lw_jump_verdict lw_jump_judge(struct lw_jump_state *st,
                                   const struct lw_fix *f, double max_speed_mps,
                                   double max_accuracy_m,
                                   struct lw_jump_info *info)
{
    struct lw_jump_info scratch;
    struct lw_jump_pt p;
    bool jump;

    if (!info)
        info = &scratch;
    info->distance_m = NAN;
    info->speed_mps = NAN;
    info->dt_ms = 0;
    info->confirmed = (struct lw_jump_pt){0};
    if (!st || !f)
        return LW_JUMP_OK;
    p = pt_of(f);
    if (!st->has_accepted) {
        st->accepted = p;
        st->has_accepted = true;
        return LW_JUMP_OK;
    }
    /* a late upload is history, not news: not judged, moves nothing */
    if (p.fix_time_ms < st->accepted.fix_time_ms)
        return LW_JUMP_OK;
    jump = lw_jump_is_jump(&st->accepted, &p, max_speed_mps, max_accuracy_m,
                           &info->speed_mps);
    info->distance_m = lw_geo_distance_m(
        st->accepted.lat_deg, st->accepted.lon_deg, p.lat_deg, p.lon_deg);
    info->dt_ms = p.fix_time_ms - st->accepted.fix_time_ms;
    if (!jump) {
        st->accepted = p;
        st->has_suspect = false; /* it was a spike */
        return LW_JUMP_OK;
    }
    if (st->has_suspect && p.fix_time_ms >= st->suspect.fix_time_ms &&
        !lw_jump_is_jump(&st->suspect, &p, max_speed_mps, max_accuracy_m,
                         NULL)) {
        info->confirmed = st->suspect;
        st->accepted = p;
        st->has_suspect = false;
        return LW_JUMP_CONFIRMS;
    }
    st->suspect = p;
    st->has_suspect = true;
    return LW_JUMP_SUSPECT;
}
