#!/usr/bin/python3
"""Golden alert tests: build the replay and, independently, the expected alerts.

Two real-world cases, read from LW_DATA_DIR (never copied into the project):

  porto    Porto taxi trips (ECML/PKDD 2015, tracks/porto_taxi/train_1000.csv,
           15 s sampling) against the Porto urban-area polygon of Natural
           Earth (geofences/natural_earth/ne_50m_urban_areas.json, feature 726)
           as a keep-in fence, and a 1.5 km keep-out circle on Porto airport
           (OPO, 41.2481 N 8.6814 W): taxis that drive out of the urban area
           raise geofence_exit, taxis that drive to the airport raise
           geofence_enter.
  aracaju  UCI GPS Trajectories (tracks/uci_gps_trajectories, 5-11 s
           sampling, cars and buses, one device per Android id) against the
           Aracaju municipality (geofences/brazil_ibge/geojs-28-mun.json,
           name "Aracaju") as a keep-in fence.

Every vehicle is registered on its own account, every account overdue, so
every confirmed transition is an alert.

The expected alerts are computed here with GEOS (shapely) and a plain
re-implementation of the documented rule, not with lienwatch's code:
  - the vehicle starts on the good side (inside keep-in, outside keep-out);
  - a fix is "far" when its distance to the fence line (metres, local
    equirectangular projection around the fix) exceeds max(accuracy, margin);
  - CONFIRM consecutive far fixes on the bad side raise one alert (on the
    last of them); a fix that is not far (ambiguous) or on the good side
    breaks the run; CONFIRM consecutive far good-side fixes re-arm.
Fixes whose distance is within BORDER of the threshold are marked in the
output: the two implementations measure distance by different methods
(~0.5 % apart), so an alert whose confirming run contains such a fix is
flagged "borderline" and the test accepts it present or absent.

Usage: make_golden.py CASE OUTDIR
Writes OUTDIR/plan.jsonl (messages for lw_pub.py, in fix-time order),
OUTDIR/fences/*.geojson (what to import), OUTDIR/vehicles.tsv (device,
account), OUTDIR/accounts.csv and prints the expected alerts as .chk lines
on stdout:  kind<TAB>device<TAB>fence<TAB>fix_time<TAB>lat<TAB>lon[<TAB>borderline]
"""
import csv
import datetime
import json
import math
import os
import sys

from shapely.geometry import Point, shape
from shapely.ops import transform

CONFIRM = 2
MARGIN_M = 50.0
ACCURACY_M = 10.0          # the replayed fixes carry acc=10 m
EARTH_R = 6371008.8        # mean Earth radius, as lienwatch's geo.h
BORDER = 0.02              # relative distance band treated as borderline
AIRPORT = (41.2481, -8.6814, 1500.0)


def local_m(lat0, lon0):
    k = math.pi / 180 * EARTH_R
    c = math.cos(math.radians(lat0))
    return lambda x, y, z=None: ((x - lon0) * k * c, (y - lat0) * k)


def dist_to_line_m(geom, lat, lon):
    g = transform(local_m(lat, lon), geom)
    return g.exterior.distance(Point(0, 0)) if g.geom_type == "Polygon" else \
        g.boundary.distance(Point(0, 0))


def haversine(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_R * math.asin(math.sqrt(a))


class Fence:
    def __init__(self, name, kind, geom=None, circle=None):
        self.name, self.kind, self.geom, self.circle = name, kind, geom, circle

    def side(self, lat, lon):
        """(bad, distance to the line in metres)"""
        if self.circle:
            clat, clon, r = self.circle
            d = haversine(lat, lon, clat, clon)
            inside, dist = d <= r, abs(d - r)
        else:
            inside = self.geom.covers(Point(lon, lat))
            dist = dist_to_line_m(self.geom, lat, lon)
        bad = (not inside) if self.kind == "keep_in" else inside
        return bad, dist


def expected(fences, tracks):
    """tracks: device -> [(tms, lat, lon)] sorted. Yields .chk rows."""
    rows = []
    for dev, pts in sorted(tracks.items()):
        for f in fences:
            bad_state, run, border_in_run = False, 0, False
            for tms, lat, lon in pts:
                bad, dist = f.side(lat, lon)
                thr = max(ACCURACY_M, MARGIN_M)
                far = dist > thr
                near_thr = abs(dist - thr) <= BORDER * thr
                towards = (bad != bad_state)
                if towards and far:
                    run += 1
                    border_in_run = border_in_run or near_thr
                else:
                    run, border_in_run = 0, False
                    if towards and near_thr:
                        # might have counted in the other implementation
                        border_in_run = True
                if run >= CONFIRM:
                    if not bad_state:
                        kind = "geofence_exit" if f.kind == "keep_in" else "geofence_enter"
                        rows.append((kind, dev, f.name, tms, lat, lon, border_in_run))
                    bad_state, run, border_in_run = not bad_state, 0, False
    return rows


def iso(tms):
    return datetime.datetime.fromtimestamp(tms / 1000, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


def load_feature(path, pick):
    d = json.load(open(path))
    for i, f in enumerate(d["features"]):
        if pick(i, f):
            return f
    raise SystemExit("feature not found in " + path)


def porto(data):
    feat = load_feature(os.path.join(data, "geofences/natural_earth/ne_50m_urban_areas.json"),
                        lambda i, f: i == 726)
    fences = [Fence("porto-urban-area", "keep_in", shape(feat["geometry"])),
              Fence("opo-airport", "keep_out", circle=AIRPORT)]
    feat = dict(feat, properties={"name": "porto-urban-area"})
    tracks = {}
    with open(os.path.join(data, "tracks/porto_taxi/train_1000.csv")) as f:
        for row in csv.DictReader(f):
            if row["MISSING_DATA"].strip() == "True":
                continue
            dev = "porto/" + row["TAXI_ID"].strip()
            t0 = int(row["TIMESTAMP"])
            for k, (lon, lat) in enumerate(json.loads(row["POLYLINE"])):
                tracks.setdefault(dev, {})[(t0 + 15 * k) * 1000] = (lat, lon)
    fence_files = {"porto-urban-area.geojson": ("keep_in", {"type": "FeatureCollection", "features": [feat]}),
                   "opo-airport.geojson": ("keep_out", {"type": "FeatureCollection", "features": [
                       {"type": "Feature", "properties": {"name": "opo-airport", "radius_m": AIRPORT[2]},
                        "geometry": {"type": "Point", "coordinates": [AIRPORT[1], AIRPORT[0]]}}]})}
    return fences, fence_files, tracks


def aracaju(data):
    feat = load_feature(os.path.join(data, "geofences/brazil_ibge/geojs-28-mun.json"),
                        lambda i, f: f["properties"].get("name") == "Aracaju")
    fences = [Fence("Aracaju", "keep_in", shape(feat["geometry"]))]
    devs = {}
    with open(os.path.join(data, "tracks/uci_gps_trajectories/go_track_tracks.csv")) as f:
        for row in csv.DictReader(f):
            devs[row["id"]] = "aracaju/android%s" % row["id_android"]
    tracks = {}
    with open(os.path.join(data, "tracks/uci_gps_trajectories/go_track_trackspoints.csv")) as f:
        for row in csv.DictReader(f):
            dev = devs.get(row["track_id"])
            if not dev:
                continue
            # naive local time, documented as probably UTC-3 (Aracaju)
            t = datetime.datetime.strptime(row["time"], "%Y-%m-%d %H:%M:%S") \
                .replace(tzinfo=datetime.timezone(datetime.timedelta(hours=-3)))
            tms = int(t.timestamp()) * 1000
            tracks.setdefault(dev, {})[tms] = (float(row["latitude"]), float(row["longitude"]))
    fence_files = {"aracaju.geojson": ("keep_in", {"type": "FeatureCollection",
                                                   "features": [dict(feat, properties={"name": "Aracaju"})]})}
    return fences, fence_files, tracks


def main():
    case, out = sys.argv[1], sys.argv[2]
    data = os.environ.get("LW_DATA_DIR", "../shared/data")
    fences, fence_files, raw = {"porto": porto, "aracaju": aracaju}[case](data)
    # one fix per device and time (the daemon keeps the first one it sees
    # for a duplicated time; the plan sends each time once)
    tracks = {d: sorted((t, la, lo) for t, (la, lo) in v.items()) for d, v in raw.items()}
    os.makedirs(os.path.join(out, "fences"), exist_ok=True)
    for name, (kind, fc) in fence_files.items():
        with open(os.path.join(out, "fences", kind + "." + name), "w") as f:
            json.dump(fc, f)
    msgs = sorted((t, d, la, lo) for d, v in tracks.items() for t, la, lo in v)
    with open(os.path.join(out, "plan.jsonl"), "w") as f:
        for t, d, la, lo in msgs:
            p = json.dumps({"_type": "location", "lat": la, "lon": lo,
                            "tst": t // 1000, "acc": ACCURACY_M, "tid": "GT"})
            f.write(json.dumps({"t": "owntracks/" + d, "p": p}) + "\n")
    with open(os.path.join(out, "vehicles.tsv"), "w") as f:
        for d in sorted(tracks):
            f.write("%s\tacct-%s\n" % (d, d.replace("/", "-")))
    with open(os.path.join(out, "accounts.csv"), "w") as f:
        f.write("account,days_past_due,status\n")
        for d in sorted(tracks):
            f.write("acct-%s,30,overdue\n" % d.replace("/", "-"))
    rows = expected(fences, tracks)
    print("# %s: %d devices, %d fixes, %d expected alerts (%d borderline)" % (
        case, len(tracks), len(msgs), len(rows), sum(1 for r in rows if r[6])))
    for kind, dev, fence, tms, lat, lon, border in sorted(rows, key=lambda r: (r[1], r[3], r[2])):
        print("\t".join([kind, dev, fence, iso(tms), "%.6f" % lat, "%.6f" % lon]
                        + (["borderline"] if border else [])))


if __name__ == "__main__":
    main()
