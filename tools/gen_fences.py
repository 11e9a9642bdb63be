#!/usr/bin/python3
"""Generate a benchmark set of geofences as GeoJSON files.

Usage: gen_fences.py --out DIR [--total 10000] [--centre LAT,LON]
                     [--region-km 100] [--seed 1] [--exclude LAT,LON,KM]...

Writes, under DIR, the files of one fence set and prints one line per file on
stdout, "FILE<TAB>KIND<TAB>ACCOUNT" (ACCOUNT "-" for a fence that applies to
every vehicle), in the order they should be imported:

  region.geojson   1 keep_in polygon of 256 vertices, a ragged disc of about
                   --region-km around --centre: the fleet's home region, for
                   every vehicle, so each fix of a watched vehicle is tested
                   against it (exact point-in-polygon, not only a box);
  local-N.geojson  a tenth of --total: keep_out circles and polygons (150 m to
                   3 km) within 50 km of --centre, linked to 9 other accounts
                   (ACC-OTHER-1..9). The fleet drives through them: the index
                   returns them and they are tested, but they do not apply to
                   the fleet's vehicles, so they raise nothing;
  global.geojson   the rest: keep_out fences for every vehicle (ports, border
                   crossings, scrapyards) scattered over Portugal, Spain and
                   Europe: 40 % circles, 45 % polygons of 6 to 48 vertices,
                   10 % polygons with a hole, 5 % two-part multipolygons,
                   none nearer than the region's edge + 20 km to --centre or
                   inside an --exclude disc.

Everything is deterministic for a given --seed. Standard library only.
"""
import argparse
import json
import math
import os
import random
import sys

M_PER_DEG_LAT = 111320.0
OTHER_ACCOUNTS = 9
LOCAL_KM = 50.0
REGION_VERTICES = 256
# Where the global fences are scattered: (share, min lat, min lon, max lat, max lon)
AREAS = [
    (0.15, 36.95, -9.50, 42.15, -6.20),  # Portugal
    (0.25, 36.00, -9.30, 43.80, 3.30),   # Spain
    (0.60, 36.00, -10.0, 60.00, 30.0),   # Europe
]


def offset(lat, lon, dist_m, brg_deg):
    """The point dist_m from (lat, lon) in direction brg_deg (flat earth:
    the fences are small and the distortion does not matter here)."""
    b = math.radians(brg_deg)
    dlat = dist_m * math.cos(b) / M_PER_DEG_LAT
    dlon = dist_m * math.sin(b) / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def dist_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def star(rng, lat, lon, r_m, n, jag=0.35):
    """A closed ring of n vertices around (lat, lon), star-shaped about it
    (so simple), radii between (1 - jag) r_m and r_m, counter-clockwise.
    One vertex per sector of 360/n degrees, at least a fifth of a sector
    from the next: with angles drawn freely two vertices could fall a few
    millidegrees apart, and rounding to 7 decimals (~1 cm) then made the
    ring cross itself, which lienwatch (GEOS) rightly refuses."""
    turn = rng.uniform(0, 360)
    angles = [(turn + (i + rng.uniform(0.1, 0.9)) * 360.0 / n) % 360 for i in range(n)]
    angles.sort()
    ring = []
    for a in angles:
        la, lo = offset(lat, lon, r_m * rng.uniform(1 - jag, 1.0), 90.0 - a)
        ring.append([round(lo, 7), round(la, 7)])
    ring.append(ring[0])
    return ring


def shape(rng, lat, lon, r_m, name, style=None):
    """One GeoJSON feature of roughly radius r_m around (lat, lon)."""
    u = rng.random() if style is None else style
    if u < 0.40:
        geom = {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}
        return {"type": "Feature", "properties": {"name": name, "radius_m": round(r_m, 1)},
                "geometry": geom}
    if u < 0.85:
        geom = {"type": "Polygon",
                "coordinates": [star(rng, lat, lon, r_m, rng.randint(6, 48))]}
    elif u < 0.95:
        outer = star(rng, lat, lon, r_m, rng.randint(12, 48), jag=0.2)
        hole = star(rng, lat, lon, r_m * 0.3, rng.randint(4, 12), jag=0.2)
        hole.reverse()  # clockwise
        geom = {"type": "Polygon", "coordinates": [outer, hole]}
    else:
        la2, lo2 = offset(lat, lon, 3 * r_m, rng.uniform(0, 360))
        geom = {"type": "MultiPolygon",
                "coordinates": [[star(rng, lat, lon, r_m, rng.randint(6, 24))],
                                [star(rng, la2, lo2, r_m, rng.randint(6, 24))]]}
    return {"type": "Feature", "properties": {"name": name}, "geometry": geom}


def write(path, features):
    with open(path, "w") as f:
        json.dump({"type": "FeatureCollection", "features": features}, f,
                  separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--total", type=int, default=10000)
    ap.add_argument("--centre", default="41.15,-8.61")
    ap.add_argument("--region-km", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exclude", action="append", default=[],
                    help="LAT,LON,KM: no global fence within KM of LAT,LON")
    a = ap.parse_args()
    clat, clon = (float(x) for x in a.centre.split(","))
    excl = [tuple(float(x) for x in e.split(",")) for e in a.exclude]
    excl.append((clat, clon, a.region_km * 1.05 + 20.0))
    if a.total < 1 + OTHER_ACCOUNTS:
        sys.exit("gen_fences.py: --total must be at least %d" % (1 + OTHER_ACCOUNTS))
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    manifest = []

    # 1. the fleet's region: keep_in for every vehicle
    region = {"type": "Feature", "properties": {"name": "bench region"},
              "geometry": {"type": "Polygon", "coordinates": [
                  star(rng, clat, clon, a.region_km * 1000 * 1.05,
                       REGION_VERTICES, jag=0.1)]}}
    write(os.path.join(a.out, "region.geojson"), [region])
    manifest.append(("region.geojson", "keep_in", "-"))

    # 2. local keep_out fences of other accounts, where the fleet drives
    n_local = a.total // 10 - 1
    n_global = a.total - 1 - max(n_local, 0)
    per = [n_local // OTHER_ACCOUNTS + (1 if i < n_local % OTHER_ACCOUNTS else 0)
           for i in range(OTHER_ACCOUNTS)]
    k = 0
    for i, n in enumerate(per):
        feats = []
        for _ in range(n):
            k += 1
            d = LOCAL_KM * 1000 * math.sqrt(rng.random())
            lat, lon = offset(clat, clon, d, rng.uniform(0, 360))
            r = math.exp(rng.uniform(math.log(150), math.log(3000)))
            feats.append(shape(rng, lat, lon, r, "local-%05d" % k))
        name = "local-%d.geojson" % (i + 1)
        write(os.path.join(a.out, name), feats)
        manifest.append((name, "keep_out", "ACC-OTHER-%d" % (i + 1)))

    # 3. global keep_out fences over Portugal, Spain, Europe
    feats = []
    while len(feats) < n_global:
        u, acc = rng.random(), 0.0
        for share, la0, lo0, la1, lo1 in AREAS:
            acc += share
            if u < acc:
                break
        lat, lon = rng.uniform(la0, la1), rng.uniform(lo0, lo1)
        r = math.exp(rng.uniform(math.log(200), math.log(5000)))
        if any(dist_km(lat, lon, e[0], e[1]) < e[2] + 4 * r / 1000 for e in excl):
            continue
        feats.append(shape(rng, lat, lon, r, "keepout-%05d" % (len(feats) + 1)))
    write(os.path.join(a.out, "global.geojson"), feats)
    manifest.append(("global.geojson", "keep_out", "-"))

    for f, kind, acct in manifest:
        print("%s\t%s\t%s" % (os.path.join(a.out, f), kind, acct))
    return 0


if __name__ == "__main__":
    sys.exit(main())
