#!/usr/bin/python3
"""Alert latency of a running lienwatchd, from the fix that confirms a
geofence exit to the alert on MQTT (part of `make bench`).

Usage: bench_latency.py --port P [--vehicles K] [--rate R] [--prefix PFX]
                        [--home LAT,LON] [--away LAT,LON] [--timeout S]

The K devices PFX/v00001..PFX/vK must be registered as watched (overdue)
vehicles, --home inside one of their keep_in fences and --away outside it.

  1. a subscriber (clean session, QoS 1) on <topic-prefix>/alert/# timestamps
     every alert message as it arrives;
  2. each device reports one fix at --home (jittered by a few hundred
     metres): the vehicle is seen inside its fence;
  3. then, at about R vehicles per second (random gaps), each device
     reports two fixes at --away, 0.3 to 1 s apart: the first starts the
     crossing, the second confirms it ([alerts] confirm_fixes = 2), and the
     daemon raises geofence_exit. The confirming fix's publish time is taken
     just before it is handed to the MQTT client;
  4. latency = arrival of the device's geofence_exit at the subscriber -
     publish time of its confirming fix, both on this process's monotonic
     clock. It includes both broker hops, the daemon's commit batching
     ([store] commit_interval_ms, 50 ms by default: the engine sees a fix
     after its batch is committed), the alert's own transaction and the
     QoS 1 publish.

Prints one line: "alerts=N expected=K missing=M early=E duplicates=D
other=O p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. mean_ms=.. seconds=S"
(early: an exit alert that arrived before its confirming fix was sent - a
bug; other: alert messages of other kinds or devices). Exit status 0 when
every expected alert arrived exactly once and none early, 1 otherwise.
"""
import argparse
import json
import math
import random
import sys
import threading
import time

import paho.mqtt.client as mqtt

M_PER_DEG_LAT = 111320.0


def jitter(rng, lat, lon, r_m):
    d = r_m * math.sqrt(rng.random())
    b = rng.uniform(0, 2 * math.pi)
    return (lat + d * math.cos(b) / M_PER_DEG_LAT,
            lon + d * math.sin(b) / (M_PER_DEG_LAT * math.cos(math.radians(lat))))


def fix(lat, lon, tst):
    return json.dumps({"_type": "location", "lat": round(lat, 6),
                       "lon": round(lon, 6), "tst": tst, "acc": 10,
                       "vel": 80, "tid": "lb"}, separators=(",", ":"))


def percentile(xs, p):
    """Nearest-rank percentile of a sorted list."""
    if not xs:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(xs)))
    return xs[k - 1]


def connect(client, host, port, deadline):
    while True:
        try:
            client.connect(host, port, keepalive=30)
            return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser(description="lienwatchd alert latency")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--vehicles", "-k", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50.0,
                    help="vehicles taken out per second (2 fixes each)")
    ap.add_argument("--prefix", default="lat", help="OwnTracks user part")
    ap.add_argument("--alert-prefix", default="lienwatch/v1")
    ap.add_argument("--home", default="41.15,-8.61")
    ap.add_argument("--away", default="40.96,-5.66")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="wait this long after the last fix for the alerts")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    hlat, hlon = (float(x) for x in a.home.split(","))
    alat, alon = (float(x) for x in a.away.split(","))
    rng = random.Random(a.seed)
    devices = ["%s/v%05d" % (a.prefix, i + 1) for i in range(a.vehicles)]
    wanted = set(devices)
    t_confirm = {}            # device -> monotonic publish time of fix 2
    arrivals = {}             # device -> [monotonic arrival times]
    other = [0]
    lock = threading.Lock()
    subscribed = threading.Event()

    def on_message(client, userdata, msg):
        t = time.monotonic()
        try:
            o = json.loads(msg.payload)
            kind, dev = o.get("kind"), o.get("device")
        except ValueError:
            kind = dev = None
        with lock:
            if kind == "geofence_exit" and dev in wanted:
                arrivals.setdefault(dev, []).append(t)
            else:
                other[0] += 1

    def on_subscribe(client, userdata, mid, granted_qos):
        subscribed.set()

    deadline = time.time() + 20
    sub = mqtt.Client(client_id="lw-bench-alerts-%d" % rng.randrange(1 << 30),
                      clean_session=True)
    sub.on_message = on_message
    sub.on_subscribe = on_subscribe
    connect(sub, a.host, a.port, deadline)
    sub.loop_start()
    sub.subscribe(a.alert_prefix + "/alert/#", qos=1)
    if not subscribed.wait(10):
        print("bench_latency: no SUBACK", file=sys.stderr)
        return 1

    acked = [0]
    pub = mqtt.Client(client_id="lw-bench-latpub-%d" % rng.randrange(1 << 30),
                      clean_session=True)
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)

    def on_publish(client, userdata, mid):
        with lock:
            acked[0] += 1

    pub.on_publish = on_publish
    connect(pub, a.host, a.port, deadline)
    pub.loop_start()

    def wait_acked(n, limit):
        end = time.time() + limit
        while time.time() < end:
            with lock:
                if acked[0] >= n:
                    return True
            time.sleep(0.01)
        return False

    # 2. every vehicle seen at home (fix time 90 s ago)
    now = int(time.time())
    for d in devices:
        la, lo = jitter(rng, hlat, hlon, 500)
        pub.publish("owntracks/" + d, fix(la, lo, now - 90), qos=1)
    if not wait_acked(len(devices), 30):
        print("bench_latency: warm-up fixes not acknowledged", file=sys.stderr)
        return 1
    time.sleep(2.0)  # committed and seen by the engine (50 ms batches)

    # 3. the schedule: (time offset, device, which fix)
    events = []
    t = 0.0
    for d in devices:
        t += rng.expovariate(a.rate)
        events.append((t, d, 1))
        events.append((t + rng.uniform(0.3, 1.0), d, 2))
    events.sort()
    base = int(time.time())
    t0 = time.monotonic()
    sent = len(devices)
    for off, d, which in events:
        delay = t0 + off - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        la, lo = jitter(rng, alat, alon, 2000)
        payload = fix(la, lo, base - 30 if which == 1 else base)
        if which == 2:
            with lock:
                t_confirm[d] = time.monotonic()
        pub.publish("owntracks/" + d, payload, qos=1)
        sent += 1
    wait_acked(sent, a.timeout)

    # 4. wait for the alerts
    end = time.monotonic() + a.timeout
    while time.monotonic() < end:
        with lock:
            if len(arrivals) >= len(devices):
                break
        time.sleep(0.05)
    time.sleep(0.5)  # late duplicates, if any
    seconds = time.monotonic() - t0
    sub.loop_stop()
    pub.loop_stop()
    sub.disconnect()
    pub.disconnect()

    lat_ms, early, dup = [], 0, 0
    with lock:
        for d, ts in arrivals.items():
            dup += len(ts) - 1
            first = ts[0]
            if d not in t_confirm or first < t_confirm[d]:
                early += 1
                continue
            lat_ms.append((first - t_confirm[d]) * 1000.0)
        missing = len(devices) - len(arrivals)
        n_other = other[0]
    lat_ms.sort()
    mean = sum(lat_ms) / len(lat_ms) if lat_ms else float("nan")
    print("alerts=%d expected=%d missing=%d early=%d duplicates=%d other=%d "
          "p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f mean_ms=%.1f "
          "seconds=%.1f" % (len(lat_ms), len(devices), missing, early, dup,
                            n_other, percentile(lat_ms, 50),
                            percentile(lat_ms, 90), percentile(lat_ms, 99),
                            lat_ms[-1] if lat_ms else float("nan"), mean,
                            seconds))
    return 0 if (missing == 0 and early == 0 and dup == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
