/*
 * fence.h - a set of geofences loaded from GeoJSON, with a bounding-box index
 * in front of the exact point-in-polygon test of geo.h.
 *
 * A fence is a Polygon, a MultiPolygon (holes allowed; the union of its
 * polygons) or a circle (a GeoJSON Point feature with a numeric "radius_m"
 * property, metres). Each fence has:
 *   - an id: its position in the set, 0, 1, 2, ... in the order added; ids are
 *     dense and never change (fences are not removed: to change the set,
 *     build a new one and swap it in);
 *   - a name (from a chosen feature property, or the feature's index);
 *   - a kind (keep_in / keep_out), given by the caller;
 *   - a bounding box and its geometry;
 *   - a user tag (int64_t, 0 until set) that the library never interprets:
 *     the daemon uses it to link a fence to its database row.
 *
 * Coordinates are WGS-84 degrees; lookups take (lat, lon). Containment
 * follows geo.h: exact, on the lon/lat plane, and a point ON a boundary is
 * inside (closed fences, like GEOS "covers").
 *
 * Index: lw_fenceset_build_index packs every polygon part and circle into a
 * static R-tree (Sort-Tile-Recursive packing, 16 entries per node), so a
 * lookup touches O(log n) boxes plus the exact tests of the few fences whose
 * boxes hold the point. Fences added after the last build are still found,
 * by a linear scan of just those, so the index is an optimisation, never a
 * correctness concern.
 *
 * GeoJSON accepted (RFC 7946): a FeatureCollection, a single Feature, or a
 * bare Polygon / MultiPolygon geometry. Positions may carry a third (altitude)
 * number, which is ignored. Rejected, with "feature N: what is wrong" in the
 * caller's buffer: invalid JSON (with line and column), unknown or
 * unsupported types, null geometry, rings with fewer than 4 positions,
 * UNCLOSED rings (first position differs from the last: RFC 7946 requires
 * closed rings, and an open one usually means a truncated or mangled file, so
 * it is refused rather than silently closed), non-numeric, non-finite or
 * out-of-range coordinates (lat outside [-90, 90], lon outside [-180, 180]),
 * and Point features without a finite radius_m > 0. Self-intersections and
 * holes outside their outer ring are not checked here (even-odd per ring
 * decides); fencecheck.h checks a set with GEOS before it is stored.
 * Loading is all or nothing: on any error the set is unchanged.
 *
 * Thread safety: none inside; a set that is no longer modified may be read
 * (which, distance, accessors) from several threads at once.
 */
#ifndef LIENWATCH_FENCE_H
#define LIENWATCH_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/err.h"
#include "lienwatch/geo.h"

/* Property that names a feature when the caller passes name_prop NULL. */
#define LW_FENCE_DEFAULT_NAME_PROP "name"

/* Property of a Point feature that makes it a circle: radius in metres. */
#define LW_FENCE_RADIUS_PROP "radius_m"

/* What crossing a fence means. */
enum lw_fence_kind {
    LW_FENCE_KEEP_IN = 1, /* the vehicle belongs inside: leaving alerts */
    LW_FENCE_KEEP_OUT,    /* the vehicle must stay out: entering alerts */
};

struct lw_fenceset; /* opaque */

/*
 * Called by lw_fenceset_which once per fence containing the point. ctx is the
 * caller's pointer, passed through. Return 0 to go on, anything else to stop
 * the lookup early.
 */
typedef int (*lw_fence_cb)(void *ctx, size_t id);

/* "keep_in" or "keep_out" (static strings); "unknown" for other values. */
const char *lw_fence_kind_name(enum lw_fence_kind kind);

/*
 * Parses "keep_in" / "keep_out" (s borrowed) into *out.
 * Returns LW_OK, or LW_ERR_INVAL for NULL or any other text.
 */
enum lw_err lw_fence_kind_parse(const char *s, enum lw_fence_kind *out);

/* A new empty set, owned by the caller (lw_fenceset_free); NULL if no RAM. */
struct lw_fenceset *lw_fenceset_new(void);

/* Frees the set, its fences, names and index. NULL is a no-op. */
void lw_fenceset_free(struct lw_fenceset *set);

/* Number of fences in the set; ids run from 0 to this - 1. */
size_t lw_fenceset_count(const struct lw_fenceset *set);

/*
 * Parses the GeoJSON in json_text (len bytes, need not be NUL-terminated;
 * borrowed, copied as needed) and appends one fence per feature, all of kind
 * 'kind', with ids from lw_fenceset_count() before the call upwards, in
 * feature order. Each fence is named by the feature property name_prop
 * (borrowed; NULL means LW_FENCE_DEFAULT_NAME_PROP): a non-empty string is
 * used as it is, a number as its decimal text; when the property is absent,
 * null, empty or of another type, the name is the feature's 0-based index in
 * the document ("0" for a single Feature or a bare geometry).
 * err (may be NULL) receives "feature N: ..." or "line L column C: ..." on
 * failure; the file name is the caller's to prefix.
 * Returns LW_OK; LW_ERR_INVAL for NULL arguments, a bad kind, invalid JSON
 * or invalid GeoJSON; LW_ERR_RANGE for a coordinate outside its range or a
 * bad radius; LW_ERR_NOMEM. On error the set is unchanged.
 */
enum lw_err lw_fenceset_add_geojson(struct lw_fenceset *set,
                                    const char *json_text, size_t len,
                                    enum lw_fence_kind kind,
                                    const char *name_prop, char *err,
                                    size_t errlen);

/*
 * Appends a circle fence named 'name' (borrowed, copied) centred on
 * (lat_deg, lon_deg) with radius radius_m metres. *id (may be NULL) gets the
 * new fence's id. Returns LW_OK; LW_ERR_INVAL for NULL set or name, a name
 * that is not valid UTF-8, or a bad kind; LW_ERR_RANGE for invalid
 * coordinates or a radius that is not finite and > 0; LW_ERR_NOMEM. On error
 * the set is unchanged. err may be NULL.
 */
enum lw_err lw_fenceset_add_circle(struct lw_fenceset *set, const char *name,
                                   double lat_deg, double lon_deg,
                                   double radius_m, enum lw_fence_kind kind,
                                   size_t *id, char *err, size_t errlen);

/*
 * (Re)builds the bounding-box index over every fence now in the set. Call it
 * once after loading; later additions are found by a linear scan until the
 * next build. Returns LW_OK, LW_ERR_INVAL (NULL set) or LW_ERR_NOMEM (the
 * previous index, if any, stays in use).
 */
enum lw_err lw_fenceset_build_index(struct lw_fenceset *set);

/*
 * Calls cb(ctx, id) once for every fence that contains (lat_deg, lon_deg),
 * boundary included, in no particular order, until cb returns non-zero.
 * Returns LW_OK; LW_ERR_INVAL for a NULL set or cb; LW_ERR_RANGE when the
 * coordinates are not valid (cb is then never called).
 */
enum lw_err lw_fenceset_which(const struct lw_fenceset *set, double lat_deg,
                              double lon_deg, lw_fence_cb cb, void *ctx);

/*
 * True when fence id contains (lat_deg, lon_deg), boundary included. The
 * direct test for a vehicle linked to a known fence: no index involved.
 * False for an unknown id or invalid coordinates.
 */
bool lw_fence_contains(const struct lw_fenceset *set, size_t id, double lat_deg,
                       double lon_deg);

/*
 * Distance in metres from (lat_deg, lon_deg) to the boundary of fence id,
 * inside or outside (see lw_geo_polygons_boundary_distance_m for the method
 * and accuracy, ~0.5 % at fence scale; for a circle, |distance to centre -
 * radius| on the sphere). NAN for an unknown id or invalid coordinates.
 */
double lw_fence_distance_m(const struct lw_fenceset *set, size_t id,
                           double lat_deg, double lon_deg);

/*
 * Name of fence id: borrowed, valid until the set is freed; NULL for an
 * unknown id.
 */
const char *lw_fence_get_name(const struct lw_fenceset *set, size_t id);

/* Kind of fence id; 0 (no kind) for an unknown id. */
enum lw_fence_kind lw_fence_get_kind(const struct lw_fenceset *set, size_t id);

/*
 * Copies the bounding box of fence id into *out. For a circle this is a box
 * that holds it (see lw_geo_circle_bbox). Returns LW_OK, LW_ERR_INVAL (NULL
 * arguments) or LW_ERR_NOTFOUND (unknown id).
 */
enum lw_err lw_fence_get_bbox(const struct lw_fenceset *set, size_t id,
                              struct lw_geo_bbox *out);

/* True when fence id is a circle (false for polygons and unknown ids). */
bool lw_fence_is_circle(const struct lw_fenceset *set, size_t id);

/*
 * The polygons of fence id: *polys gets an array of *npolys polygons
 * (borrowed: valid, and unchanged, until the set is freed; each polygon's
 * rings and vertices likewise). A circle has none (*polys NULL, *npolys 0).
 * Returns LW_OK, LW_ERR_INVAL (NULL arguments) or LW_ERR_NOTFOUND.
 */
enum lw_err lw_fence_get_polygons(const struct lw_fenceset *set, size_t id,
                                  const struct lw_geo_polygon **polys,
                                  size_t *npolys);

/*
 * Copies the circle of fence id into *out. Returns LW_OK, LW_ERR_INVAL
 * (NULL arguments, or the fence is not a circle) or LW_ERR_NOTFOUND.
 */
enum lw_err lw_fence_get_circle(const struct lw_fenceset *set, size_t id,
                                struct lw_geo_circle *out);

/* The caller's tag of fence id; 0 when never set or for an unknown id. */
int64_t lw_fence_get_tag(const struct lw_fenceset *set, size_t id);

/*
 * Sets the caller's tag of fence id. Returns LW_OK, LW_ERR_INVAL (NULL set)
 * or LW_ERR_NOTFOUND (unknown id).
 */
enum lw_err lw_fence_set_tag(struct lw_fenceset *set, size_t id, int64_t tag);

/*
 * Serialises fence id as one compact GeoJSON Feature:
 *   {"type":"Feature","properties":{"name":NAME,"kind":"keep_in"},
 *    "geometry":{"type":"Polygon"|"MultiPolygon","coordinates":...}}
 * or, for a circle, a Point geometry with "radius_m" among the properties.
 * The geometry type is the one it was loaded from; coordinates are printed
 * with 17 significant digits so they read back bit for bit. Other properties
 * of the original feature are not kept. Loading the text with
 * lw_fenceset_add_geojson (name_prop NULL, the same kind) gives back the same
 * fence. On LW_OK *out is a NUL-terminated string owned by the caller (free()).
 * Returns LW_OK, LW_ERR_INVAL (NULL arguments), LW_ERR_NOTFOUND (unknown id)
 * or LW_ERR_NOMEM (*out is then NULL).
 */
enum lw_err lw_fence_to_geojson(const struct lw_fenceset *set, size_t id,
                                char **out);

#endif
