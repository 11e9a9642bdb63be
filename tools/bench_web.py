#!/usr/bin/python3
"""Benchmark of lienwatch-web's read API on a large registry.

    tools/bench_web.py BUILD [--vehicles N] [--watched W] [--agents A]
                             [--cases-per-agent C] [--seconds S] [--clients K]

Makes a database with N registered vehicles with a last position (within
25 km of a centre), W of them watched (overdue accounts), A agents with C
open cases each (on watched vehicles) and one ops client, all as bearer
tokens; the registry and last positions are written with SQL in bulk (what
lienwatchd and the CLI would have left), the tokens with the lienwatch
command. Then lienwatch-web on a loopback port answers, one request at a
time, GET /api/v1/cases?lat&lon and GET /api/v1/near for agents and for ops
(client-side time on loopback: server time plus a loopback round trip),
and K clients polling /cases concurrently for S seconds give the requests
per second. Every answer that shows positions also writes its audit
records: that cost is part of what is measured.

Ingest beside the web service: lienwatchd on the same database and a
private mosquitto take --ingest-messages fixes from lw-sim (as fast as it
sends), once alone and once while --clients agents poll /cases; the table
gives both rates (fixes stored per second, from lienwatchd's committed
"stored" counter) and their ratio.
Prints a Markdown table and 'target: ... MET/NOT MET' against p99 < 20 ms.
"""
import argparse
import http.client
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

TARGET_P99_MS = 20.0
CENTRE = (41.15, -8.61)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(port, path, token):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read()
    dt = time.perf_counter() - t0
    c.close()
    if r.status != 200:
        sys.exit("bench_web: %s: %d %r" % (path, r.status, body[:200]))
    return dt, body


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--vehicles", type=int, default=100000)
    ap.add_argument("--watched", type=int, default=2000)
    ap.add_argument("--agents", type=int, default=40)
    ap.add_argument("--cases-per-agent", type=int, default=50)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--ingest-messages", type=int, default=30000)
    a = ap.parse_args()
    binp = os.path.join(a.build, "bin")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tmp = tempfile.mkdtemp(prefix="lw-benchweb.")
    db = os.path.join(tmp, "lw.db")
    web = None
    try:
        subprocess.run([os.path.join(binp, "lienwatch"), "init-db", "--db", db], check=True,
                       capture_output=True)
        rnd = random.Random(7)
        now = int(time.time() * 1000)
        con = sqlite3.connect(db)
        con.execute("PRAGMA synchronous=OFF")
        accts, vehs, devs = [], [], []
        for i in range(a.vehicles):
            dev = "fleet/v%06d" % i
            acc = "ACC-%06d" % i
            accts.append((acc, 30 if i < a.watched else 0, "", now, "import"))
            vehs.append((dev, "", "P-%06d" % i, "vehicle %d" % i, acc, 0, now, now))
            lat = CENTRE[0] + rnd.uniform(-0.22, 0.22)
            lon = CENTRE[1] + rnd.uniform(-0.3, 0.3)
            devs.append((dev, now - 86400000, now - 60000, 1, now - 60000, now - 60000, lat, lon,
                         0.0, None, 10.0, None, None, None))
        con.executemany("INSERT INTO accounts VALUES (?,?,?,?,?)", accts)
        con.executemany("INSERT INTO vehicles VALUES (?,?,?,?,?,?,?,?)", vehs)
        con.executemany("INSERT INTO devices VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", devs)
        cases = []
        for k in range(a.agents):
            for j in range(a.cases_per_agent):
                dev = "fleet/v%06d" % ((k * a.cases_per_agent + j) % a.watched)
                cases.append((dev, "agent%d" % k, "bench", "ops", now, now + 86400000))
        con.executemany("INSERT INTO cases (device, agent, reason, opened_by, opened_ms, "
                        "expires_ms) VALUES (?,?,?,?,?,?)", cases)
        con.commit()
        con.close()
        tokens = {}
        for name, role in [("agent%d" % k, "agent") for k in range(a.agents)] + [("ops1", "ops")]:
            out = subprocess.run([os.path.join(binp, "lienwatch"), "--db", db, "token", "create",
                                  name, "--role", role], check=True, capture_output=True,
                                 text=True).stdout
            tokens[name] = next(w for w in out.split() if w.startswith("lwt_"))
        port = free_port()
        log = open(os.path.join(tmp, "web.log"), "w")
        web = subprocess.Popen([os.path.join(binp, "lienwatch-web"), "--db", db, "--listen",
                                "127.0.0.1:%d" % port, "--set",
                                "web.static_dir=" + os.path.join(root, "web", "static"), "-q"],
                               stdout=log, stderr=log)
        for _ in range(100):
            try:
                get(port, "/config.json", "x")
                break
            except OSError:
                time.sleep(0.1)
        agents = [n for n in tokens if n.startswith("agent")]
        rows = []

        def serial(label, path_of):
            lat = []
            n_items = 0
            for i in range(a.requests):
                name, path = path_of(i)
                dt, body = get(port, path, tokens[name])
                lat.append(dt * 1000)
                n_items = body.count(b'"device"')
            rows.append((label, pct(lat, 50), pct(lat, 99), n_items))

        q = "lat=%.4f&lon=%.4f" % CENTRE
        serial("agent GET /cases?lat&lon (%d cases)" % a.cases_per_agent,
               lambda i: (agents[i % len(agents)], "/api/v1/cases?" + q))
        serial("agent GET /near?radius_m=5000",
               lambda i: (agents[i % len(agents)], "/api/v1/near?%s&radius_m=5000" % q))
        # ops' answers are large (and write as many audit records): fewer
        ops_req = max(5, a.requests // 20)
        old = a.requests
        a.requests = ops_req
        serial("ops GET /cases (all %d open cases; %d requests)" % (len(cases), ops_req),
               lambda i: ("ops1", "/api/v1/cases?" + q))
        serial("ops GET /near?radius_m=2000 (%d requests)" % ops_req,
               lambda i: ("ops1", "/api/v1/near?%s&radius_m=2000" % q))
        a.requests = old

        # throughput: K agents polling their cases
        stop = time.time() + a.seconds
        counts = [0] * a.clients

        def poll(k):
            name = agents[k % len(agents)]
            while time.time() < stop:
                get(port, "/api/v1/cases?" + q, tokens[name])
                counts[k] += 1

        ths = [threading.Thread(target=poll, args=(k,)) for k in range(a.clients)]
        t0 = time.time()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        rps = sum(counts) / (time.time() - t0)

        ingest = measure_ingest(a, binp, tmp, db, port, tokens, agents, q)

        print("\n### lienwatch-web (%d vehicles, %d watched, %d agents x %d cases)\n"
              % (a.vehicles, a.watched, a.agents, a.cases_per_agent))
        print("| request | p50 ms | p99 ms | items |")
        print("|---|---:|---:|---:|")
        for label, p50, p99, n in rows:
            print("| %s | %.1f | %.1f | %d |" % (label, p50, p99, n))
        print("\n%d clients polling agent /cases: %.0f requests/s" % (a.clients, rps))
        if ingest:
            alone, loaded, polls = ingest
            print("\n| lienwatchd ingest (%d fixes, lw-sim as fast as it sends) | fixes/s |"
                  % a.ingest_messages)
            print("|---|---:|")
            print("| alone | %.0f |" % alone)
            print("| while %d agents poll /cases (%.0f requests/s) | %.0f |"
                  % (a.clients, polls, loaded))
            if alone > 0:
                print("ingest with the web service busy: %.2fx the rate alone" % (loaded / alone))
        for label, p50, p99, n in rows[:2]:
            print("target: %s p99 < %.0f ms: %s (%.1f ms)"
                  % (label, TARGET_P99_MS, "MET" if p99 < TARGET_P99_MS else "NOT MET", p99))
    finally:
        if web:
            web.terminate()
            web.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def stored(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        r = con.execute("SELECT value FROM counters WHERE name = 'stored'").fetchone()
        return r[0] if r else 0
    finally:
        con.close()


def measure_ingest(a, binp, tmp, db, port, tokens, agents, q):
    """Returns (rate alone, rate under web load, web requests/s), or None
    when mosquitto is not installed."""
    if not shutil.which("mosquitto") or a.ingest_messages <= 0:
        return None
    mq = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                "max_inflight_messages 0\n" % mq)
    procs = []
    try:
        procs.append(subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        dlog = open(os.path.join(tmp, "daemon.log"), "w")
        procs.append(subprocess.Popen([os.path.join(binp, "lienwatchd"), "--db", db,
                                       "--mqtt-port", str(mq), "--set",
                                       "mqtt.client_id=lw-benchweb", "-q"],
                                      stdout=dlog, stderr=dlog))
        # a large registry takes a moment to load: wait for the subscription
        # (what is published before it is not delivered to a new session)
        end = time.time() + 60
        while time.time() < end and "subscribed to owntracks" not in open(dlog.name).read():
            time.sleep(0.1)

        def run(seed, load):
            base = stored(db)
            stop = [False]
            count = [0]

            def poll(k):
                name = agents[k % len(agents)]
                while not stop[0]:
                    get(port, os.environ.get("BENCH_WEB_POLL", "/api/v1/cases?" + q),
                        tokens[name])
                    count[0] += 1

            ths = [threading.Thread(target=poll, args=(k,)) for k in range(a.clients)] \
                if load else []
            for t in ths:
                t.start()
            t0 = time.time()
            subprocess.run([os.path.join(binp, "lw-sim"), "--port", str(mq), "-n", "2000",
                            "-r", "0", "-c", str(a.ingest_messages), "--seed", str(seed),
                            # devices of their own: the same device and fix
                            # time would be a duplicate, not stored again
                            "--topic-prefix", "owntracks/run%d" % seed,
                            "--client-id", "lw-benchweb-sim%d" % seed],
                           check=True, stdout=subprocess.DEVNULL)
            while stored(db) < base + a.ingest_messages and time.time() - t0 < 300:
                time.sleep(0.05)
            dt = time.time() - t0
            stop[0] = True
            for t in ths:
                t.join()
            return (stored(db) - base) / dt, count[0] / dt

        alone, _ = run(11, False)
        loaded, polls = run(12, True)
        dlog.flush()
        errs = [l for l in open(os.path.join(tmp, "daemon.log")) if "error" in l or "warning" in l]
        if errs:
            print("lienwatchd said (%d lines of errors and warnings; the last 3):" % len(errs))
            for l in errs[-3:]:
                print("    " + l.rstrip())
        return alone, loaded, polls
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
