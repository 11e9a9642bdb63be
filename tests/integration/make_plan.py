#!/usr/bin/python3
"""Build a publishing plan from real data, and what the daemon must store.

Sources (read from LW_DATA_DIR, never copied into the project):
  - payloads/owntracks/demo-iphone.rec: a real iPhone's OwnTracks messages,
    published as device demo/iphone exactly as recorded (location and lwt);
  - tracks/porto_taxi/train_1000.csv: real taxi trips (15 s sampling),
    turned into OwnTracks location messages of device porto/<TAXI_ID>.
Then duplicates are added (QoS 1 redelivery, device retries), the whole plan
is shuffled (store-and-forward uploads arrive out of order), and optionally
a set of bad payloads is mixed in, each with the rejection reason the daemon
must count. gpsd TPV messages from a synthetic device exercise that decoder.

Writes PLAN (JSON lines for lw_pub.py) and EXPECT (JSON):
  {"devices": {dev: [[fix_time_ms, lat, lon], ...] sorted, unique},
   "rejected": {reason: count}, "messages": N, "alive": N}
"""
import argparse
import base64
import csv
import json
import os
import random
import time


def owntracks(lat, lon, tst, **extra):
    m = {"_type": "location", "lat": lat, "lon": lon, "tst": tst}
    m.update(extra)
    return json.dumps(m)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("LW_DATA_DIR", "../shared/data"))
    ap.add_argument("--trips", type=int, default=40)
    ap.add_argument("--dup-ratio", type=float, default=0.1)
    ap.add_argument("--bad", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device-prefix", default="")
    ap.add_argument("plan")
    ap.add_argument("expect")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    now = int(time.time())
    P = a.device_prefix

    msgs = []      # (topic, payload-bytes)
    fixes = {}     # device -> {fix_time_ms: (lat, lon)}
    alive = 0

    def add_fix(dev, topic, payload, tms, lat, lon):
        msgs.append((topic, payload.encode()))
        fixes.setdefault(dev, {})[tms] = (lat, lon)

    # demo-iphone.rec: ISO time TAB marker TAB JSON
    with open(os.path.join(a.data, "payloads/owntracks/demo-iphone.rec")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            j = json.loads(parts[2])
            dev = P + "demo/iphone"
            topic = "owntracks/" + dev
            if j.get("_type") == "location":
                add_fix(dev, topic, parts[2], int(j["tst"]) * 1000, j["lat"], j["lon"])
            else:
                msgs.append((topic, parts[2].encode()))
                alive += 1

    # Porto taxi trips
    with open(os.path.join(a.data, "tracks/porto_taxi/train_1000.csv")) as f:
        r = csv.DictReader(f)
        for i, row in enumerate(r):
            if i >= a.trips:
                break
            if row["MISSING_DATA"].strip() == "True":
                continue
            pts = json.loads(row["POLYLINE"])
            t0 = int(row["TIMESTAMP"])
            dev = P + "porto/" + row["TAXI_ID"].strip()
            for k, (lon, lat) in enumerate(pts):
                tst = t0 + 15 * k
                add_fix(dev, "owntracks/" + dev,
                        owntracks(lat, lon, tst, acc=10, vel=rnd.randint(0, 60), tid="PT"),
                        tst * 1000, lat, lon)

    # gpsd TPV from a bridge-like device
    dev = P + "tpvcar"
    for k in range(20):
        tms = (now - 3600 + k * 5) * 1000
        lat, lon = 41.15 + k * 0.0005, -8.61 + k * 0.0003
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(tms // 1000)) + ".000Z"
        add_fix(dev, "lienwatch/v1/fix/" + dev,
                json.dumps({"class": "TPV", "mode": 3, "time": iso, "lat": lat,
                            "lon": lon, "speed": 12.5, "track": 90.0, "eph": 4.2}),
                tms, lat, lon)
    msgs.append(("lienwatch/v1/fix/" + dev, b'{"class":"TPV","mode":1}'))
    alive += 1

    # a device id that looks like SQL is just a name: it must be stored
    dev = P + "x'); DROP TABLE fixes;--/car"
    add_fix(dev, "owntracks/" + dev, owntracks(38.72, -9.14, now - 60), (now - 60) * 1000, 38.72, -9.14)

    # duplicates
    ndup = int(len(msgs) * a.dup_ratio)
    msgs += [rnd.choice(msgs) for _ in range(ndup)]

    rejected = {}
    if a.bad:
        bad = [
            ("not_json", b"\x00\xffgarbage\x01"),
            ("not_json", b'{"_type":"location","lat":41.1'),
            ("not_json", b'{"_type":"location","lat":NaN,"lon":-8.6,"tst":%d}' % now),
            ("not_json", b""),
            ("wrong_type", ('{"_type":"location","lat":"41.1","lon":-8.6,"tst":%d}' % now).encode()),
            ("wrong_type", ('{"_type":"location","lat":41.1,"lon":-8.6,"tst":"%d"}' % now).encode()),
            ("missing_field", ('{"_type":"location","lon":-8.6,"tst":%d}' % now).encode()),
            ("missing_field", b'{"_type":"location","lat":41.1,"lon":-8.6}'),
            ("out_of_range", ('{"_type":"location","lat":91,"lon":-8.6,"tst":%d}' % now).encode()),
            ("out_of_range", ('{"_type":"location","lat":41,"lon":-180.5,"tst":%d}' % now).encode()),
            ("null_island", ('{"_type":"location","lat":0,"lon":0,"tst":%d}' % now).encode()),
            ("future", ('{"_type":"location","lat":41.1,"lon":-8.6,"tst":%d}' % (now + 3600)).encode()),
            ("too_old", b'{"_type":"location","lat":41.1,"lon":-8.6,"tst":315532800}'),
            ("too_large", ('{"_type":"location","lat":41.1,"lon":-8.6,"tst":%d,"pad":"%s"}'
                           % (now, "x" * 70000)).encode()),
        ]
        for reason, payload in bad:
            msgs.append(("owntracks/%sbad/dev%d" % (P, rnd.randint(1, 3)), payload))
            rejected[reason] = rejected.get(reason, 0) + 1
        msgs.append(("lienwatch/v1/fix/%sbadtpv" % P, b'{"class":"TPV","mode":3,"lat":41.1,"lon":-8.6}'))
        rejected["missing_field"] = rejected.get("missing_field", 0) + 1

    rnd.shuffle(msgs)
    with open(a.plan, "w") as f:
        for topic, payload in msgs:
            f.write(json.dumps({"t": topic, "b64": base64.b64encode(payload).decode()}) + "\n")
    exp = {"devices": {d: sorted([t, la, lo] for t, (la, lo) in v.items())
                       for d, v in fixes.items()},
           "rejected": rejected, "messages": len(msgs), "alive": alive}
    with open(a.expect, "w") as f:
        json.dump(exp, f)
    print("plan: %d messages, %d devices, %d distinct fixes, %d bad" % (
        len(msgs), len(fixes), sum(len(v) for v in fixes.values()),
        sum(rejected.values())))


if __name__ == "__main__":
    main()
