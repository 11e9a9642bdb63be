/*
 * geo.h - distances and exact point-in-polygon on WGS-84 longitude/latitude.
 *
 * Coordinate frame: WGS-84 degrees; latitude in [-90, 90], longitude in
 * [-180, 180]. Vertices are stored in GeoJSON order (lon, lat); function
 * arguments for a single point are (lat, lon) like the rest of lienwatch.
 *
 * Polygon model (RFC 7946 and GEOS): an edge is the straight segment between
 * two vertices in the (lon, lat) plane, not a great circle, and there is no
 * wrap-around at the antimeridian (a fence that crosses it comes split into a
 * MultiPolygon at +/-180). A polygon is an outer ring and zero or more holes;
 * a point is in the polygon when it is in the outer ring and in none of the
 * holes. A multipolygon is the union of its polygons.
 *
 * Boundary rule: a point exactly ON a boundary (a vertex or an edge of the
 * outer ring or of a hole) is INSIDE. Fences are closed sets, like GEOS
 * "covers": a car on the fence line has not left a keep-in fence, two
 * neighbouring fences both contain their shared border, and the seam of a
 * fence split at the antimeridian belongs to it. The tests are exact: the
 * orientation predicate falls back to error-free arithmetic when the fast
 * floating-point result could be wrong, so "on the edge" means on it exactly.
 *
 * Distances are in metres on a sphere of radius LW_GEO_EARTH_RADIUS_M
 * (the WGS-84 mean radius); the sphere differs from the ellipsoid by at most
 * about 0.5 %.
 *
 * Everything here is pure: no allocation, no globals, no errors beyond the
 * documented return values. The two link formatters at the end (OpenStreetMap
 * URL, geo: URI) write into a caller's buffer. Structs that point at vertex arrays borrow them;
 * the caller (lib/fence.c) owns the memory.
 */
#ifndef LIENWATCH_GEO_H
#define LIENWATCH_GEO_H

#include <stdbool.h>
#include <stddef.h>

/* Mean Earth radius R1 = (2a + b) / 3 of WGS-84, metres. */
#define LW_GEO_EARTH_RADIUS_M 6371008.8

/* Valid coordinate ranges, degrees. */
#define LW_GEO_LAT_MAX_DEG 90.0
#define LW_GEO_LON_MAX_DEG 180.0

/* One vertex, GeoJSON order. */
struct lw_geo_pt {
    double lon_deg; /* longitude, degrees, x of the lon/lat plane */
    double lat_deg; /* latitude, degrees, y of the lon/lat plane */
};

/* Axis-aligned box in the lon/lat plane; closed on every side. */
struct lw_geo_bbox {
    double min_lon_deg; /* west edge */
    double min_lat_deg; /* south edge */
    double max_lon_deg; /* east edge */
    double max_lat_deg; /* north edge */
};

/*
 * A closed ring: pts[0] equals pts[n - 1] and n >= 4 (GeoJSON linear ring).
 * Orientation (clockwise or not) does not matter.
 */
struct lw_geo_ring {
    const struct lw_geo_pt *pts; /* n vertices, borrowed */
    size_t n;                    /* vertex count including the closing one */
};

/* A polygon: rings[0] is the outer ring, rings[1..] are holes. */
struct lw_geo_polygon {
    const struct lw_geo_ring *rings; /* nrings rings, borrowed */
    size_t nrings;                   /* >= 1 */
    struct lw_geo_bbox bbox;         /* box of the outer ring */
};

/*
 * A circle fence: every point whose great-circle distance from the centre is
 * at most radius_m. Unlike polygons it is measured on the sphere, so it is a
 * true circle on the ground at any latitude.
 */
struct lw_geo_circle {
    double lat_deg;  /* centre latitude, degrees */
    double lon_deg;  /* centre longitude, degrees */
    double radius_m; /* radius, metres, > 0 */
};

/* Where a point lies relative to a region. */
enum lw_geo_where {
    LW_GEO_OUTSIDE = 0, /* not in the region (or on it) */
    LW_GEO_INSIDE,      /* in the interior */
    LW_GEO_BOUNDARY,    /* exactly on the boundary: counts as inside */
};

/* True when lat and lon are finite and within the ranges above. */
bool lw_geo_valid(double lat_deg, double lon_deg);

/*
 * Great-circle (haversine) distance between two points, metres, on the
 * sphere of radius LW_GEO_EARTH_RADIUS_M. Accurate to ~0.5 % against the
 * WGS-84 ellipsoid; numerically sound for tiny and antipodal distances.
 */
double lw_geo_distance_m(double lat1_deg, double lon1_deg, double lat2_deg,
                         double lon2_deg);

/*
 * Exact orientation of c relative to the directed line a -> b in the lon/lat
 * plane: +1 when c is to the left (counter-clockwise), -1 to the right, 0 when
 * the three points are collinear. Exact (adaptive: a floating-point filter,
 * then error-free expansion arithmetic) for every coordinate in the valid
 * ranges, barring underflow of non-zero coordinate differences below about
 * 1e-140 degrees, which no real position has.
 */
int lw_geo_orient(const struct lw_geo_pt *a, const struct lw_geo_pt *b,
                  const struct lw_geo_pt *c);

/* True when (lat, lon) lies in the closed box b. */
bool lw_geo_bbox_contains(const struct lw_geo_bbox *b, double lat_deg,
                          double lon_deg);

/* Box of the n points pts (n >= 1). */
struct lw_geo_bbox lw_geo_bbox_of(const struct lw_geo_pt *pts, size_t n);

/* Smallest box holding both a and b. */
struct lw_geo_bbox lw_geo_bbox_union(const struct lw_geo_bbox *a,
                                     const struct lw_geo_bbox *b);

/* Where (lat, lon) lies relative to the region bounded by ring r (even-odd). */
enum lw_geo_where lw_geo_ring_locate(const struct lw_geo_ring *r,
                                     double lat_deg, double lon_deg);

/*
 * Where (lat, lon) lies relative to polygon p: inside the outer ring and not
 * inside or on any hole is INSIDE; on any ring is BOUNDARY.
 */
enum lw_geo_where lw_geo_polygon_locate(const struct lw_geo_polygon *p,
                                        double lat_deg, double lon_deg);

/*
 * Where (lat, lon) lies relative to the union of the n polygons polys:
 * INSIDE if in the interior of one, else BOUNDARY if on the boundary of one,
 * else OUTSIDE.
 */
enum lw_geo_where lw_geo_polygons_locate(const struct lw_geo_polygon *polys,
                                         size_t n, double lat_deg,
                                         double lon_deg);

/* True when the closed region of polys (boundary included) holds the point. */
bool lw_geo_polygons_contain(const struct lw_geo_polygon *polys, size_t n,
                             double lat_deg, double lon_deg);

/*
 * Distance in metres from (lat, lon) to the nearest point of the boundary
 * (every edge of every ring, holes included) of the n polygons, whether the
 * point is inside or outside. Edges lying on the antimeridian (both ends at
 * longitude +/-180) are seams of a split fence, not boundaries, and are
 * skipped; a fence made only of such edges gives INFINITY.
 *
 * Method: each edge is projected with a local equirectangular projection
 * centred on the point (x = dlon * cos(lat) * R, y = dlat * R; an affine map
 * of the lon/lat plane, so the straight edge stays straight), the nearest
 * point on the nearest edge is found in that plane, and the result is the
 * haversine distance from the point to that nearest boundary point. The
 * distance to a boundary point is therefore exact on the sphere; only the
 * choice of that point carries the projection's scale error, a second-order
 * effect. Against WGS-84 the result is within about 0.5 % (sphere vs
 * ellipsoid) for boundaries up to ~100 km away below 70 degrees of latitude;
 * far from the boundary or near the poles it is still a sound upper bound of
 * the right magnitude. Edges are shifted by 360 degrees when that brings
 * them nearer across the antimeridian.
 */
double lw_geo_polygons_boundary_distance_m(const struct lw_geo_polygon *polys,
                                           size_t n, double lat_deg,
                                           double lon_deg);

/* Where (lat, lon) lies relative to circle c (haversine distance vs radius). */
enum lw_geo_where lw_geo_circle_locate(const struct lw_geo_circle *c,
                                       double lat_deg, double lon_deg);

/* |distance from the centre - radius|, metres: distance to the circle line. */
double lw_geo_circle_boundary_distance_m(const struct lw_geo_circle *c,
                                         double lat_deg, double lon_deg);

/*
 * A lon/lat box that holds circle c. When the circle reaches a pole or
 * crosses the antimeridian the box spans all longitudes (-180..180), which is
 * correct, only less selective.
 */
struct lw_geo_bbox lw_geo_circle_bbox(const struct lw_geo_circle *c);

/* ---- links to a position (alert JSON, mail, CLI) ------------------------ */

/*
 * Writes "https://www.openstreetmap.org/?mlat=LAT&mlon=LON#map=17/LAT/LON"
 * (6 decimals) into buf (len bytes, truncated, NUL-terminated when len > 0).
 * Returns buf.
 */
char *lw_osm_url(double lat_deg, double lon_deg, char *buf, size_t len);

/*
 * Writes the RFC 5870 URI "geo:LAT,LON" (6 decimals), or "geo:LAT,LON;u=ACC"
 * when accuracy_m is finite and positive (whole metres), into buf as
 * lw_osm_url does. Returns buf.
 */
char *lw_geo_uri(double lat_deg, double lon_deg, double accuracy_m, char *buf,
                 size_t len);

#endif
