/*
 * fencecheck.h - is a geofence fit to be stored? Polygon validity by GEOS,
 * bounds on circles and on the size of a fence, and repair on request.
 *
 * fence.h loads whatever GeoJSON is well formed; it does not ask whether a
 * polygon means anything. A self-intersecting ("bow-tie") ring, a ring that
 * encloses no area, a hole outside its shell or two parts of a MultiPolygon
 * that overlap are answered by fence.h's even-odd rule without complaint,
 * and what they answer is rarely what whoever drew them meant: a zero-area
 * keep_in fence puts every vehicle outside. This module decides, before a
 * fence is stored, whether it may be:
 *
 *   - polygons must be valid in the OGC sense as GEOS checks them
 *     (GEOSisValidDetail_r: "Self-intersection", "Ring Self-intersection",
 *     "Hole lies outside shell", "Too few points in geometry component",
 *     "Nested shells", "Interior is disconnected", ...) and enclose an area
 *     greater than zero (GEOS's planar area) and of at least
 *     LW_FENCECHECK_MIN_AREA_M2 on the ground; the reason and GEOS's
 *     location are reported;
 *   - a fence has at most LW_FENCECHECK_MAX_VERTICES vertices: every fix in
 *     its box is tested against each of its edges (measured on one core:
 *     1 us per fix at 1,000 vertices, 0.5 ms at 100,000, 4.5 ms at a
 *     million, and five times that for the distance to the fence line), so
 *     a larger fence should be simplified first;
 *   - a circle's radius lies in [LW_FENCECHECK_RADIUS_MIN_M,
 *     LW_FENCECHECK_RADIUS_MAX_M]: below a metre no GPS fix is meaningful,
 *     and a circle of more than 1,000 km is a typo or a continent (import
 *     a polygon for that).
 *
 * Repair (make_valid): an invalid polygon fence is rebuilt with GEOS's
 * MakeValid, "structure" method (GEOS >= 3.10), keeping only what has an
 * area. The structure method unions the shells and subtracts the holes,
 * which is what a MultiPolygon means to fence.h (the union of its parts);
 * the default "linework" method would instead take the even-odd of all the
 * noded rings, so two overlapping parts would leave a hole where they
 * overlap. The report says what changed: parts, vertices, area. A repair
 * that leaves no area (a ring collapsed to a line) is refused. Circles and
 * fences over the vertex limit are never repaired, only refused.
 *
 * Coordinates are WGS-84 degrees and GEOS works in the lon/lat plane, as
 * fence.h does (edges are straight in that plane). Areas reported are in
 * square metres on the sphere of geo.h (LW_GEO_EARTH_RADIUS_M), by the
 * formula of Chamberlain and Duquette (JPL 2007) for lon/lat polygons:
 * about 0.5 % from the ellipsoid, for messages, not for decisions; the
 * zero-area decision is GEOS's exact planar area.
 *
 * The checker owns one GEOS context (reentrant API): one checker per
 * thread. Nothing here logs; the caller reports.
 */
#ifndef LIENWATCH_FENCECHECK_H
#define LIENWATCH_FENCECHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "lienwatch/err.h"
#include "lienwatch/fence.h"

/* Smallest circle radius, metres: about the accuracy of a good GPS fix. */
#define LW_FENCECHECK_RADIUS_MIN_M 1.0
/* Largest circle radius, metres (1,000 km). */
#define LW_FENCECHECK_RADIUS_MAX_M 1000000.0
/*
 * Most vertices in one fence (every ring of every part, closing vertices
 * included). The real boundaries in the test data have at most 1,068; the
 * daemon tests a fix against every edge of each fence whose box holds it.
 */
#define LW_FENCECHECK_MAX_VERTICES 100000
/* The least area on the ground (m²) a polygon fence must enclose, as a
 * circle of the least radius nearly does: a valid polygon smaller than
 * that (a sliver of coordinates that differ in the tenth decimal) is
 * refused, and so is a repair that leaves less. */
#define LW_FENCECHECK_MIN_AREA_M2 1.0
/* Room for a reason, with its NUL. */
#define LW_FENCECHECK_REASON_MAX 256

/* What the check made of one fence. */
enum lw_fencecheck_verdict {
    LW_FENCECHECK_VALID = 0, /* fit to store as it is */
    LW_FENCECHECK_REPAIRED,  /* was invalid; the repaired fence replaces it */
    LW_FENCECHECK_REFUSED,   /* invalid and not repaired: must not be stored */
};

/* The shape of a polygon fence, before or after a repair. */
struct lw_fencecheck_shape {
    size_t parts;    /* polygons */
    size_t holes;    /* interior rings, all parts together */
    size_t vertices; /* every ring's vertices, closing ones included */
    double area_m2;  /* approximate area on the ground (see above) */
};

/* The report on one fence that is not simply valid. */
struct lw_fencecheck_report {
    size_t id;                             /* fence id in the checked set */
    const char *name;                      /* its name; borrowed from set */
    enum lw_fencecheck_verdict verdict;    /* REPAIRED or REFUSED */
    char reason[LW_FENCECHECK_REASON_MAX]; /* why, one line: GEOS's reason
                                              ("Self-intersection") or ours
                                              ("zero area", "radius ...") */
    char note[LW_FENCECHECK_REASON_MAX];   /* REFUSED after a repair was
                                              tried: why it failed
                                              ("" otherwise) */
    bool has_location;                     /* GEOS gave a location */
    double lat_deg, lon_deg;               /* where the problem is */
    bool is_circle;                        /* a circle (before/after unset) */
    bool can_repair;                       /* REFUSED polygon that a check
                                              with make_valid would try to
                                              repair */
    struct lw_fencecheck_shape before;     /* polygons: as given */
    struct lw_fencecheck_shape after;      /* REPAIRED: the repaired fence */
};

/*
 * Called once per fence that is REPAIRED or REFUSED, in id order; r is valid
 * during the call only; ctx is the caller's pointer, passed through.
 */
typedef void (*lw_fencecheck_cb)(void *ctx,
                                 const struct lw_fencecheck_report *r);

struct lw_fencecheck; /* opaque: a GEOS context and a few buffers */

/* A new checker, owned by the caller (lw_fencecheck_free); NULL if no RAM. */
struct lw_fencecheck *lw_fencecheck_new(void);

/* Frees the checker and its GEOS context. NULL is a no-op. */
void lw_fencecheck_free(struct lw_fencecheck *fc);

/*
 * Checks the circle radius radius_m against the bounds above. Returns LW_OK,
 * or LW_ERR_RANGE with a sentence in err (may be NULL) such as "radius
 * 1e+12 m is more than 1,000 km". NaN and infinities are out of range.
 */
enum lw_err lw_fencecheck_radius(double radius_m, char *err, size_t errlen);

/*
 * Checks every fence of set (borrowed, unchanged). cb (may be NULL) hears
 * of each fence that is not VALID. *refused (may be NULL) gets the number
 * of REFUSED fences, *repaired (may be NULL) the number of REPAIRED ones.
 *
 * With make_valid false, every invalid fence is REFUSED. With make_valid
 * true, an invalid polygon fence is repaired when the repair leaves an area
 * and stays within the vertex limit (else REFUSED); then, when at least one
 * fence was repaired and none refused, *out gets a new set (owned by the
 * caller, lw_fenceset_free) with every fence of set in the same order, of
 * the same name and kind, the repaired ones in place of the originals (the
 * others are copied through lw_fence_to_geojson, bit for bit). In every
 * other case *out is NULL: the input set is the one to store (when nothing
 * was refused) or nothing is.
 *
 * A GEOS exception while checking or repairing a fence refuses that fence
 * with GEOS's message as the reason.
 *
 * out may be NULL only when make_valid is false.
 * Returns LW_OK (whatever the verdicts: count them), LW_ERR_INVAL for NULL
 * arguments, or LW_ERR_NOMEM (*out is then NULL). err (may be NULL) gets a
 * sentence on failure.
 */
enum lw_err lw_fencecheck_set(struct lw_fencecheck *fc,
                              const struct lw_fenceset *set, bool make_valid,
                              struct lw_fenceset **out, lw_fencecheck_cb cb,
                              void *ctx, size_t *refused, size_t *repaired,
                              char *err, size_t errlen);

#endif
