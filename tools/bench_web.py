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
sends) in --repeats rounds; each round runs, in a rotating order, ingest
with lienwatch-web idle, with --clients agents using the page (each polls
GET /cases every 30 s as web/static/app.js does, the first polls spread
over the interval, and keeps its live stream /api/v1/events open), and with
the same clients polling back to back (a stress reference, not a
workload). The table gives, per condition, the median fixes stored per
second (from lienwatchd's committed "stored" counter) with the lowest and
highest, the ratio of the medians, the fixes lost (sent but not stored:
must be 0) and the web requests served. Every process shares the
machine's cores: the limit is the machine, not one program.
"""
import argparse
import http.client
import os
import random
import selectors
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


def get(port, path, token, exit_on_error=True):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read()
    dt = time.perf_counter() - t0
    c.close()
    if r.status != 200:
        if not exit_on_error:
            raise OSError("%s: %d" % (path, r.status))
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
    ap.add_argument("--ingest-messages", type=int, default=60000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--alerts", type=int, default=1000,
                    help="open alerts on watched vehicles (ops' /alerts)")
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
        # open alerts on watched vehicles, and as many closed ones
        con.executemany("INSERT INTO alerts (kind, device, raised_ms, state, changed_ms, "
                        "published) VALUES ('offline', ?, ?, ?, ?, 1)",
                        [("fleet/v%06d" % (i % a.watched), now - 3600000,
                          "open" if i < a.alerts else "closed", now)
                         for i in range(2 * a.alerts)])
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
        ops_req = max(20, a.requests // 4)
        old = a.requests
        a.requests = ops_req
        serial("ops GET /cases (all %d open cases; %d requests)" % (len(cases), ops_req),
               lambda i: ("ops1", "/api/v1/cases?" + q))
        serial("ops GET /near?radius_m=2000 (%d requests)" % ops_req,
               lambda i: ("ops1", "/api/v1/near?%s&radius_m=2000" % q))
        serial("ops GET /watched (all %d watched; %d requests)" % (a.watched, ops_req),
               lambda i: ("ops1", "/api/v1/watched"))
        serial("ops GET /alerts?open=1 (%d open of %d; %d requests)"
               % (a.alerts, 2 * a.alerts, ops_req),
               lambda i: ("ops1", "/api/v1/alerts?open=1"))
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
            print_ingest(a, ingest)
        for label, p50, p99, n in rows:
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


PAGE_POLL_S = 30.0  # web/static/app.js: REFRESH_MS


def median(v):
    v = sorted(v)
    n = len(v)
    return (v[n // 2] + v[(n - 1) // 2]) / 2.0 if n else 0.0


class Agents:
    """--clients agents against lienwatch-web, in one of three modes:
    "idle" (nothing), "page" (as the page: each agent's live stream
    /api/v1/events open, and GET /cases every PAGE_POLL_S seconds, the first
    one spread over the interval) or "flood" (every client polls GET /cases
    back to back). The page's agents cost the machine little themselves:
    one thread reads every stream (select), one makes the polls when they
    are due. Counts the requests answered and the failures."""

    def __init__(self, port, tokens, agents, q, n):
        self.port, self.tokens, self.agents, self.q, self.n = port, tokens, agents, q, n
        self.mode = "idle"
        self.done = False
        self.served = 0
        self.failed = 0
        self.lock = threading.Lock()
        self.ths = [threading.Thread(target=self.flooder, args=(k,), daemon=True)
                    for k in range(n)]
        self.ths.append(threading.Thread(target=self.streams, daemon=True))
        self.ths.append(threading.Thread(target=self.poller, daemon=True))
        for t in self.ths:
            t.start()

    def name(self, k):
        return self.agents[k % len(self.agents)]

    def poll(self, name):
        try:
            get(self.port, "/api/v1/cases?" + self.q, self.tokens[name], exit_on_error=False)
            with self.lock:
                self.served += 1
        except Exception:
            with self.lock:
                self.failed += 1

    def flooder(self, k):
        while not self.done:
            if self.mode == "flood":
                self.poll(self.name(k))
            else:
                time.sleep(0.05)

    def poller(self):
        due = None
        while not self.done:
            if self.mode != "page":
                due = None
                time.sleep(0.05)
                continue
            if due is None:
                now = time.time()
                due = [now + random.uniform(0, PAGE_POLL_S) for _ in range(self.n)]
            k = min(range(self.n), key=lambda i: due[i])
            wait = due[k] - time.time()
            if wait > 0:
                time.sleep(min(wait, 0.05))
                continue
            self.poll(self.name(k))
            due[k] += PAGE_POLL_S

    def streams(self):
        sel = selectors.DefaultSelector()
        socks = []
        opened = False
        while not self.done:
            if self.mode == "page" and not opened:
                opened = True
                for k in range(self.n):
                    try:
                        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                        s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: x\r\n"
                                   "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n"
                                   % self.tokens[self.name(k)]).encode())
                        s.setblocking(False)
                        sel.register(s, selectors.EVENT_READ)
                        socks.append(s)
                    except OSError:
                        with self.lock:
                            self.failed += 1
            elif self.mode != "page" and opened:
                opened = False
                for s in socks:
                    sel.unregister(s)
                    s.close()
                socks = []
            if not socks:
                time.sleep(0.05)
                continue
            for key, _ in sel.select(timeout=0.1):
                try:
                    if not key.fileobj.recv(65536):
                        sel.unregister(key.fileobj)
                        socks.remove(key.fileobj)
                        key.fileobj.close()
                except OSError:
                    pass
        for s in socks:
            s.close()

    def set(self, mode):
        """Switches mode; returns (answered, failed) since the last switch."""
        self.mode = mode
        with self.lock:
            n, f = self.served, self.failed
            self.served = self.failed = 0
        return n, f

    def stop(self):
        self.done = True
        for t in self.ths:
            t.join(timeout=5)


def measure_ingest(a, binp, tmp, db, port, tokens, agents, q):
    """Returns {condition: [(fixes/s, fixes lost, web requests/s, web
    failures)]} over the rounds, or None when mosquitto is not installed."""
    if not shutil.which("mosquitto") or a.ingest_messages <= 0:
        return None
    mq = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                "max_inflight_messages 0\n" % mq)
    procs = []
    crowd = None
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
        crowd = Agents(port, tokens, agents, q, a.clients)
        seed = [100]

        def run(mode):
            seed[0] += 1
            crowd.set(mode)
            if mode == "page":
                time.sleep(2)  # the streams open first, as on the phones
                crowd.set(mode)
            base = stored(db)
            t0 = time.time()
            subprocess.run([os.path.join(binp, "lw-sim"), "--port", str(mq), "-n", "2000",
                            "-r", "0", "-c", str(a.ingest_messages), "--seed", str(seed[0]),
                            # devices of their own: the same device and fix
                            # time would be a duplicate, not stored again
                            "--topic-prefix", "owntracks/run%d" % seed[0],
                            "--client-id", "lw-benchweb-sim%d" % seed[0]],
                           check=True, stdout=subprocess.DEVNULL)
            while stored(db) < base + a.ingest_messages and time.time() - t0 < 300:
                time.sleep(0.02)
            dt = time.time() - t0
            served, failed = crowd.set("idle")
            got = stored(db) - base
            return (got / dt, a.ingest_messages - got, served / dt, failed)

        modes = ["alone", "page", "flood"]
        res = {m: [] for m in modes}
        for i in range(a.repeats):
            order = modes[i % 3:] + modes[:i % 3]  # rotating: no order bias
            for m in order:
                res[m].append(run("idle" if m == "alone" else m))
                time.sleep(1)
        dlog.flush()
        errs = [l for l in open(os.path.join(tmp, "daemon.log")) if "error" in l or "warning" in l]
        if errs:
            print("lienwatchd said (%d lines of errors and warnings; the last 3):" % len(errs))
            for l in errs[-3:]:
                print("    " + l.rstrip())
        return res
    finally:
        if crowd:
            crowd.stop()
        for p in reversed(procs):
            p.terminate()
            p.wait()


def print_ingest(a, res):
    alone = median([r[0] for r in res["alone"]])
    print("\n| lienwatchd ingest, %d fixes a run from lw-sim as fast as it sends, %d rounds "
          "| median fixes/s | lowest-highest | median / idle | fixes lost | web requests/s "
          "(failed) |" % (a.ingest_messages, a.repeats))
    print("|---|---:|---:|---:|---:|---:|")
    label = {"alone": "lienwatch-web idle",
             "page": "%d agents using the page (GET /cases every %.0f s, live stream open)"
                     % (a.clients, PAGE_POLL_S),
             "flood": "%d clients polling GET /cases back to back (stress, not a workload)"
                      % a.clients}
    for m in ("alone", "page", "flood"):
        rates = [r[0] for r in res[m]]
        med = median(rates)
        print("| %s | %.0f | %.0f-%.0f | %.2f | %d | %.1f (%d) |"
              % (label[m], med, min(rates), max(rates), med / alone if alone else 0,
                 sum(r[1] for r in res[m]), median([r[2] for r in res[m]]),
                 sum(r[3] for r in res[m])))
    print("\nLimit: %d cores (load average %.1f at the end) shared by mosquitto, lienwatchd, "
          "lienwatch-web, lw-sim and the clients; the bare subscriber's rate on the same broker "
          "is in the ingest table above." % (os.cpu_count() or 0, os.getloadavg()[0]))
    lost = sum(r[1] for m in res for r in res[m])
    print("target: no fix lost while lienwatch-web serves: %s (%d lost)"
          % ("MET" if lost == 0 else "NOT MET", lost))


if __name__ == "__main__":
    main()
