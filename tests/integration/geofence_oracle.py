#!/usr/bin/python3
"""Independent oracle for lienwatch's point-in-fence test: GEOS via shapely.

For each real polygon file under DATA/geofences/ this generates points
(seeded): uniform points in every feature's bounding box, points on and a
hair off random edges (0 to 10 m either side), every kind of vertex, and,
for the urban areas and the Sergipe municipalities, the real track points
of the Porto taxis and the UCI Aracaju trips. lw-geowhich answers for all
of them; GEOS answers with `covers` (lienwatch counts a point on a boundary
as inside, see include/lienwatch/geo.h), and `contains` is reported beside.

Any disagreement with `covers` must lie within TOLERANCE_M of the feature's
boundary, measured by GEOS in a local metric frame (equirectangular around
the point, metres); a farther one fails the run. Exit 0 when none is far,
1 otherwise, 2 on usage or tool errors.

Fence names: lw-geowhich is run with a name property no feature has, so
every fence is named by its feature index and the two sides line up
without depending on names being unique.
"""

import argparse
import csv
import json
import math
import subprocess
import sys
import time

import numpy as np
import shapely.affinity
import shapely.vectorized
from shapely.geometry import Point, shape

# Disagreements closer than this to a boundary are rounding-level, allowed.
TOLERANCE_M = 1.0
# Mean Earth radius used by lienwatch (geo.h), metres.
EARTH_RADIUS_M = 6371008.8
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
# A property no feature carries: lw-geowhich then names fences by index.
INDEX_NAME_PROP = "__lw_oracle_feature_index__"
# Perpendicular offsets (metres) of the near-edge points, both sides.
EDGE_OFFSETS_M = [0.0, 0.001, 0.01, 0.1, 0.5, 0.99, 2.0, 10.0]

# file, bbox points per feature, near-edge points, vertex points, tracks
FILES = [
    ("natural_earth/ne_110m_admin_0_countries.json", 60, 8000, 1500, []),
    ("natural_earth/ne_110m_admin_1_states_provinces.json", 150, 5000, 1000,
     []),
    ("natural_earth/ne_50m_urban_areas.json", 5, 10000, 2000,
     ["porto", "uci"]),
    ("brazil_ibge/geojs-28-mun.json", 120, 8000, 1500, ["uci"]),
    ("germany/bundeslaender_3_mittel.geo.json", 400, 6000, 1500, []),
]


def load_porto(data):
    """Every POLYLINE point of the Porto taxi sample, as (lat, lon)."""
    pts = []
    path = f"{data}/tracks/porto_taxi/train_1000.csv"
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for lon, lat in json.loads(row["POLYLINE"]):
                pts.append((lat, lon))
    return pts


def load_uci(data):
    """Every point of the UCI go_track (Aracaju) trips, as (lat, lon)."""
    path = f"{data}/tracks/uci_gps_trajectories/go_track_trackspoints.csv"
    with open(path, newline="") as f:
        return [(float(r["latitude"]), float(r["longitude"]))
                for r in csv.DictReader(f)]


def rings_of(geom_json):
    """All rings (lists of [lon, lat]) of a Polygon or MultiPolygon."""
    if geom_json["type"] == "Polygon":
        return list(geom_json["coordinates"])
    return [r for poly in geom_json["coordinates"] for r in poly]


def gen_points(features, rng, per_bbox, n_edge, n_vertex):
    """Seeded test points for one file.

    Uniform points in every feature's box; points on random edges (rounded
    to doubles) then moved 0 to 10 m along the edge's normal, either side;
    vertices, points level with a vertex (ray through a vertex), and edge
    midpoints (exactly on any axis-parallel edge).
    """
    pts = []
    for feat in features:
        minx, miny, maxx, maxy = feat["shape"].bounds
        xs = rng.uniform(minx, maxx, per_bbox)
        ys = rng.uniform(miny, maxy, per_bbox)
        pts.extend(zip(ys.tolist(), xs.tolist()))
    edges = []
    for feat in features:
        for ring in rings_of(feat["geometry"]):
            edges.extend(zip(ring[:-1], ring[1:]))
    for k in rng.integers(0, len(edges), n_edge):
        (ax, ay), (bx, by) = edges[k]
        t = rng.uniform()
        x, y = ax + t * (bx - ax), ay + t * (by - ay)
        off = EDGE_OFFSETS_M[rng.integers(0, len(EDGE_OFFSETS_M))]
        off *= 1 if rng.uniform() < 0.5 else -1
        # Unit normal of the edge in local metres, back to degrees.
        coslat = max(math.cos(math.radians(y)), 1e-6)
        ex, ey = (bx - ax) * coslat, (by - ay)
        norm = math.hypot(ex, ey)
        if norm > 0 and off:
            x += -ey / norm * off / M_PER_DEG / coslat
            y += ex / norm * off / M_PER_DEG
        if -180 <= x <= 180 and -90 <= y <= 90:
            pts.append((y, x))
    for k in rng.integers(0, len(edges), n_vertex):
        (ax, ay), (bx, by) = edges[k]
        pts.append((ay, ax))
        # Same latitude as a vertex: the ray-casting test's hard case.
        dx = rng.uniform(-0.05, 0.05)
        if -180 <= ax + dx <= 180:
            pts.append((ay, ax + dx))
        # Midpoints are exactly on axis-parallel edges.
        pts.append(((ay + by) / 2, (ax + bx) / 2))
    return pts


def geos_covers(features, lats, lons):
    """Per point, the sets of feature indices GEOS covers / contains."""
    covers = [set() for _ in lats]
    contains = [set() for _ in lats]
    for i, feat in enumerate(features):
        minx, miny, maxx, maxy = feat["shape"].bounds
        cand = np.nonzero((lons >= minx) & (lons <= maxx) &
                          (lats >= miny) & (lats <= maxy))[0]
        if len(cand) == 0:
            continue
        x, y = lons[cand], lats[cand]
        inside = shapely.vectorized.contains(feat["shape"], x, y)
        # touches (on the boundary) is slow on big polygons: ask only for
        # the points contains rejected.
        touch = np.zeros(len(cand), dtype=bool)
        out = np.nonzero(~inside)[0]
        if len(out):
            touch[out] = shapely.vectorized.touches(feat["shape"], x[out],
                                                    y[out])
        for j, c, t in zip(cand.tolist(), inside.tolist(), touch.tolist()):
            if c:
                contains[j].add(i)
            if c or t:
                covers[j].add(i)
    return covers, contains


def boundary_distance_m(geom, lat, lon):
    """Metres from (lat, lon) to geom's boundary, local equirectangular."""
    coslat = math.cos(math.radians(lat))
    a = M_PER_DEG * coslat
    b = M_PER_DEG
    local = shapely.affinity.affine_transform(
        geom.boundary, [a, 0, 0, b, -lon * a, -lat * b])
    return local.distance(Point(0, 0))


def run_tool(tool, path, pts):
    """lw-geowhich's answer per point: a set of feature indices."""
    text = "".join(f"{lat!r} {lon!r}\n" for lat, lon in pts)
    res = subprocess.run([tool, "--name-property", INDEX_NAME_PROP, path],
                         input=text, capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        raise SystemExit(f"oracle: {tool} failed on {path} "
                         f"(rc {res.returncode})")
    lines = res.stdout.splitlines()
    if len(lines) != len(pts):
        raise SystemExit(f"oracle: {len(lines)} answers for {len(pts)} points")
    return [set(int(n) for n in json.loads(line)) for line in lines]


def check_file(args, rel, per_bbox, n_edge, n_vertex, track_names, tracks,
               rng):
    """Compares tool and GEOS on one file; returns a dict of counts."""
    path = f"{args.data}/geofences/{rel}"
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    features = [{"geometry": ft["geometry"], "shape": shape(ft["geometry"])}
                for ft in doc["features"]]
    pts = gen_points(features, rng, per_bbox, n_edge, n_vertex)
    generated = len(pts)
    for name in track_names:
        pts.extend(tracks[name])
    lats = np.array([p[0] for p in pts])
    lons = np.array([p[1] for p in pts])
    t0 = time.monotonic()
    ours = run_tool(args.tool, path, pts)
    t_tool = time.monotonic() - t0
    t0 = time.monotonic()
    covers, contains = geos_covers(features, lats, lons)
    t_geos = time.monotonic() - t0
    c = {"points": len(pts), "generated": generated,
         "tracks": len(pts) - generated, "agree": 0, "near": 0, "far": 0,
         "on_boundary": 0, "hits": 0, "tool_s": t_tool, "geos_s": t_geos}
    worst = []
    for k, (mine, cov, con) in enumerate(zip(ours, covers, contains)):
        c["hits"] += len(mine)
        if cov != con:
            c["on_boundary"] += 1
        if mine == cov:
            c["agree"] += 1
            continue
        lat, lon = pts[k]
        dist = max(boundary_distance_m(features[i]["shape"], lat, lon)
                   for i in mine ^ cov)
        if dist <= TOLERANCE_M:
            c["near"] += 1
        else:
            c["far"] += 1
            worst.append((dist, lat, lon, sorted(mine), sorted(cov)))
    for dist, lat, lon, mine, cov in sorted(worst, reverse=True)[:10]:
        print(f"  FAR {dist:.3f} m: point {lat!r} {lon!r}: "
              f"lienwatch {mine} GEOS covers {cov}")
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", required=True, help="path to lw-geowhich")
    ap.add_argument("--data", required=True, help="shared data directory")
    ap.add_argument("--seed", type=int, default=20240229)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.monotonic()
    tracks = {"porto": load_porto(args.data), "uci": load_uci(args.data)}
    total = {"points": 0, "agree": 0, "near": 0, "far": 0, "on_boundary": 0}
    print(f"oracle: GEOS via shapely, seed {args.seed}, tolerance "
          f"{TOLERANCE_M} m; Porto {len(tracks['porto'])} and UCI "
          f"{len(tracks['uci'])} track points")
    for rel, per_bbox, n_edge, n_vertex, track_names in FILES:
        c = check_file(args, rel, per_bbox, n_edge, n_vertex, track_names,
                       tracks, rng)
        print(f"{rel}: {c['points']} points ({c['generated']} generated, "
              f"{c['tracks']} track), {c['hits']} fence hits, "
              f"{c['on_boundary']} exactly on a boundary; "
              f"agree {c['agree']}, near-edge disagreements {c['near']}, "
              f"far disagreements {c['far']} "
              f"(lw-geowhich {c['tool_s']:.2f} s, GEOS {c['geos_s']:.2f} s)")
        for key in total:
            total[key] += c[key]
    print(f"TOTAL: points checked {total['points']}, agreements "
          f"{total['agree']}, near-edge disagreements (<= {TOLERANCE_M} m) "
          f"{total['near']}, far disagreements {total['far']} (must be 0); "
          f"{total['on_boundary']} points exactly on a boundary; "
          f"{time.monotonic() - started:.1f} s")
    return 1 if total["far"] else 0


if __name__ == "__main__":
    sys.exit(main())
