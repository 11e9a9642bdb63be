/*
 * fix.c - the one helper of struct lw_fix (fix.h).
 */
#include "lienwatch/fix.h"

void lw_fix_init(struct lw_fix *f)
{
    *f = (struct lw_fix){0};
    f->speed_mps = NAN;
    f->course_deg = NAN;
    f->accuracy_m = NAN;
    f->alt_m = NAN;
    f->battery_pct = -1;
}
