#!/usr/bin/python3
"""The checks of test_web_api.sh: lienwatch-web's API against a real
lienwatchd, broker and database. Environment: WEB, WEB2 (base URLs), MQ
(broker port), DB, LW (the lienwatch command), CASE1, CASE4, TOKEN, T."""
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

import paho.mqtt.client as mqtt
import paho.mqtt.publish as publish

WEB = os.environ["WEB"]
WEB2 = os.environ["WEB2"]
MQ = int(os.environ["MQ"])
DB = os.environ["DB"]
LW = os.environ["LW"]
CASE1 = int(os.environ["CASE1"])
TOKEN = os.environ["TOKEN"]
CAR1 = urllib.parse.quote("fleet/car1", safe="")
CAR2 = urllib.parse.quote("fleet/car2", safe="")
CAR3 = urllib.parse.quote("fleet/car3", safe="")
CAR4 = urllib.parse.quote("fleet/car4", safe="")
checks = 0


def fail(msg):
    print("web_api: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    global checks
    checks += 1
    if not cond:
        fail(msg)


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            fail("not JSON (%d): %r" % (self.status, self.body[:200]))

    def header(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


def req(method, path, body=None, headers=None, base=WEB, raw=None):
    u = urllib.parse.urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    h = dict(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None and "Content-Type" not in h:
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = Resp(r.status, r.getheaders(), r.read())
    c.close()
    return out


class Session:
    def __init__(self, user, password, base=WEB):
        self.base = base
        r = req("POST", "/api/v1/session", {"username": user, "password": password}, base=base)
        check(r.status == 200, "login %s: %d %r" % (user, r.status, r.body))
        d = r.json()
        self.csrf = d["csrf"]
        self.role = d["role"]
        cookies = r.header("Set-Cookie")
        check(len(cookies) == 1, "one cookie")
        self.set_cookie = cookies[0]
        self.cookie = cookies[0].split(";")[0]

    def h(self, csrf=True, extra=None):
        h = {"Cookie": self.cookie}
        if csrf:
            h["X-CSRF-Token"] = self.csrf
        h.update(extra or {})
        return h

    def get(self, path, extra=None):
        return req("GET", path, headers=self.h(False, extra), base=self.base)

    def post(self, path, body=None, csrf=True):
        return req("POST", path, body, headers=self.h(csrf), base=self.base)


def last_audit():
    con = sqlite3.connect(DB)
    row = con.execute("SELECT who, action, device, reason, role, via, client, case_id, basis "
                      "FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    con.close()
    return dict(zip(["who", "action", "device", "reason", "role", "via", "client", "case_id",
                     "basis"], row))


def audit_count():
    con = sqlite3.connect(DB)
    n = con.execute("SELECT count(*) FROM audit").fetchone()[0]
    con.close()
    return n


def publish_fix(dev, lat, lon, tst, acc=8):
    publish.single("owntracks/fleet/" + dev, json.dumps(
        {"_type": "location", "lat": lat, "lon": lon, "tst": tst, "acc": acc, "vel": 30}),
        qos=1, hostname="127.0.0.1", port=MQ)


def lw(*args):
    p = subprocess.run([LW, "--db", DB] + list(args), capture_output=True, text=True)
    check(p.returncode == 0, "lienwatch %s: %s" % (" ".join(args), p.stderr))
    return p.stdout


# ---- logins -------------------------------------------------------------
r1 = req("POST", "/api/v1/session", {"username": "alice", "password": "wrong-password"})
r2 = req("POST", "/api/v1/session", {"username": "nobody", "password": "wrong-password"})
check(r1.status == 401 and r2.status == 401, "bad logins: %d %d" % (r1.status, r2.status))
check(r1.body == r2.body, "unknown user and wrong password answer alike")
check(not r1.header("Set-Cookie"), "no cookie for a failed login")

alice = Session("alice", "alice-secret-1")
check(alice.role == "agent", "alice is an agent")
sc = alice.set_cookie
check("HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/" in sc, "cookie attributes: " + sc)
check("Secure" not in sc, "no Secure flag over plain HTTP on loopback")
check(len(alice.cookie.split("=", 1)[1]) == 43, "256-bit token as base64url")
olga = Session("olga", "olga-secret-333")
adam = Session("adam", "adam-secret-4444")
bob = Session("bob", "bob-secret-22")

# password checks run off the loop: other requests are answered meanwhile
logins = [threading.Thread(target=req, args=("POST", "/api/v1/session",
                                             {"username": "olga", "password": "olga-secret-333"}))
          for _ in range(4)]
for th in logins:
    th.start()
lat = []
t_end = time.time() + 0.3
while time.time() < t_end:
    t0 = time.time()
    check(req("GET", "/config.json").status == 200, "config.json")
    lat.append(time.time() - t0)
for th in logins:
    th.join()
lat.sort()
print("web_api: during 4 sign-ins, %d other requests, median %.1f ms, max %.1f ms"
      % (len(lat), 1000 * lat[len(lat) // 2], 1000 * lat[-1]))
check(lat[len(lat) // 2] < 0.05, "sign-ins stall the loop: median %.3f s" % lat[len(lat) // 2])

r = alice.get("/api/v1/session")
check(r.status == 200 and r.json()["username"] == "alice" and r.json()["csrf"] == alice.csrf,
      "GET session gives who and the CSRF value")

# ---- agent: own open case only --------------------------------------------
r = alice.get("/api/v1/cases?lat=52.52&lon=13.40")
check(r.status == 200, "cases: %d" % r.status)
cs = r.json()
check([c["device"] for c in cs] == ["fleet/car1"], "alice sees only car1: %r" % cs)
c = cs[0]
check(c["case_id"] == CASE1 and c["plate"] == "KA-111", "case fields")
check(c["description"] == "<img src=x onerror=alert(1)>", "description as stored")
check(c["fix"] and abs(c["fix"]["lat"] - 52.52) < 1e-6 and c["fix"]["accuracy_m"] == 12,
      "fix of car1: %r" % c["fix"])
check(c["distance_m"] is not None and c["distance_m"] < 500, "distance_m: %r" % c.get("distance_m"))
for k in ("vin", "account", "days_past_due", "expires_at", "last_heard", "open_alerts"):
    check(k in c, "case field " + k)
a = last_audit()
check(a["who"] == "alice" and a["via"] == "web" and a["device"] == "fleet/car1" and
      a["basis"] == "case" and a["case_id"] == str(CASE1) and a["client"] == "127.0.0.1" and
      a["role"] == "agent", "audit of the case list: %r" % a)

n0 = audit_count()
r = alice.get("/api/v1/vehicles/" + CAR1)
check(r.status == 200, "alice car1: %d %r" % (r.status, r.body))
v = r.json()
check(v["device"] == "fleet/car1" and v["fix"] and v["geo_uri"].startswith("geo:52.52"),
      "vehicle answer: %r" % v)
check(audit_count() == n0 + 1, "one audit record per look")
a = last_audit()
check(a["action"] == "web locate" and a["basis"] == "case" and a["case_id"] == str(CASE1),
      "audit of a vehicle look: %r" % a)

n0 = audit_count()
for path in ("/api/v1/vehicles/" + CAR2, "/api/v1/vehicles/" + CAR3,
             "/api/v1/vehicles/fleet%2Fnope", "/api/v1/vehicles/" + CAR2 + "/history",
             "/api/v1/vehicles/" + CAR2 + "?reason=curious"):
    r = alice.get(path)
    check(r.status == 404 and r.json() == {"error": "no such vehicle"},
          "agent outside their cases gets the same 404: %s %d %r" % (path, r.status, r.body))
r = alice.post("/api/v1/vehicles/" + CAR2 + "/locate")
check(r.status == 404, "agent cannot ask another car: %d" % r.status)
check(audit_count() == n0, "refusals record no look")
r = bob.get("/api/v1/cases")
check(r.status == 200 and r.json() == [], "bob has no cases")

# ---- ops --------------------------------------------------------------------
r = olga.get("/api/v1/vehicles/" + CAR2)
check(r.status == 200, "ops see a watched vehicle")
check(last_audit()["basis"] == "watched" and last_audit()["role"] == "ops", "ops basis watched")
r = olga.get("/api/v1/vehicles/" + CAR3)
check(r.status == 403 and "reason" in r.json()["error"], "ops need a reason: %r" % r.body)
r = olga.get("/api/v1/vehicles/" + CAR3 + "?reason=" + urllib.parse.quote("customer called: stolen"))
check(r.status == 200, "ops with a reason: %d" % r.status)
a = last_audit()
check(a["reason"] == "customer called: stolen" and a["basis"] == "override", "reason recorded: %r" % a)
r = olga.get("/api/v1/vehicles/" + CAR3, {"X-Reason": "dispute 42"})
check(r.status == 200 and last_audit()["reason"] == "dispute 42", "X-Reason header")
r = olga.get("/api/v1/cases")
check(sorted(c["device"] for c in r.json()) == ["fleet/car1", "fleet/car4"], "ops see all open cases")
r = olga.get("/api/v1/near?lat=52.52&lon=13.405&radius_m=5000")
near = [x["device"] for x in r.json()]
check(near == ["fleet/car1", "fleet/car2"], "ops near: watched ones within 5 km, nearest first: %r" % near)
r = alice.get("/api/v1/near?lat=52.52&lon=13.405&radius_m=50000")
check([x["device"] for x in r.json()] == ["fleet/car1"], "agent near: own case only")
r = olga.get("/api/v1/watched")
check(sorted(x["device"] for x in r.json()) == ["fleet/car1", "fleet/car2", "fleet/car4", "fleet/car6"],
      "watched list: %r" % r.body)
r = alice.get("/api/v1/watched")
check(r.status == 403, "agents have no watched list")


# ---- admin --------------------------------------------------------------------
for path in ("/api/v1/vehicles/" + CAR1, "/api/v1/cases", "/api/v1/near?lat=1&lon=1"):
    r = adam.get(path)
    check(r.status == 403, "admin sees no locations: %s %d" % (path, r.status))

# ---- history --------------------------------------------------------------------
r = alice.get("/api/v1/vehicles/" + CAR1 + "/history")
check(r.status == 200 and len(r.json()) == 1, "history json: %r" % r.body)
for fmt, probe in (("csv", b"time,lat,lon"), ("gpx", b"<gpx"), ("kml", b"<kml"), ("geojson", b"FeatureCollection")):
    r = alice.get("/api/v1/vehicles/" + CAR1 + "/history?format=" + fmt)
    check(r.status == 200 and probe in r.body, "history " + fmt)
check(last_audit()["action"] == "web history", "history is a recorded look")
r = alice.get("/api/v1/vehicles/" + CAR1 + "/history?format=xls")
check(r.status == 400, "unknown format")

# ---- CSRF ---------------------------------------------------------------------------
r = alice.post("/api/v1/vehicles/" + CAR1 + "/locate", csrf=False)
check(r.status == 403 and "CSRF" in r.json()["error"], "no CSRF header: %d" % r.status)
r = req("POST", "/api/v1/vehicles/" + CAR1 + "/locate",
        headers={"Cookie": alice.cookie, "X-CSRF-Token": "x" * 43})
check(r.status == 403, "wrong CSRF value")

# ---- locate now, through lienwatchd and the broker -------------------------------
got = []
sub = mqtt.Client(client_id="webtest-dev")
sub.on_message = lambda c, u, m: got.append((m.topic, m.payload.decode()))
sub.connect("127.0.0.1", MQ)
sub.subscribe("owntracks/fleet/car1/cmd", qos=1)
sub.loop_start()
time.sleep(0.5)
t_ask = time.time()
r = alice.post("/api/v1/vehicles/" + CAR1 + "/locate")
check(r.status == 202, "locate: %d %r" % (r.status, r.body))
cid = r.json()["command_id"]
r = alice.get("/api/v1/commands/%d" % cid)
check(r.status == 200 and r.json()["state"] in ("queued", "sent"), "command state: %r" % r.body)
r = bob.get("/api/v1/commands/%d" % cid)
check(r.status == 404, "another agent's command is not theirs to follow")
# the promise: published within 2 s
deadline = t_ask + 2
while time.time() < deadline and not got:
    time.sleep(0.02)
print("web_api: locate now published %.2f s after the request" % (time.time() - t_ask))
st = alice.get("/api/v1/commands/%d" % cid).json()
check(st["state"] == "sent" and st["sent_at"], "sent within 2 s: %r" % st)
check(got and json.loads(got[0][1]) == {"_type": "cmd", "action": "reportLocation"},
      "the device got the OwnTracks command: %r" % got)
sub.loop_stop()
publish_fix("car1", 52.5210, 13.4060, int(time.time()) + 1)
deadline = time.time() + 5
while time.time() < deadline and alice.get("/api/v1/commands/%d" % cid).json()["state"] != "answered":
    time.sleep(0.1)
check(alice.get("/api/v1/commands/%d" % cid).json()["state"] == "answered", "answered after a fix")


# ---- bearer token: no cookie, no CSRF ------------------------------------------------
r = req("GET", "/api/v1/vehicles/" + CAR2, headers={"Authorization": "Bearer " + TOKEN})
check(r.status == 200 and last_audit()["who"] == "dash", "token works: %d" % r.status)
r = req("POST", "/api/v1/vehicles/" + CAR2 + "/locate", headers={"Authorization": "Bearer " + TOKEN})
check(r.status == 202, "a token needs no CSRF header: %d" % r.status)
r = req("GET", "/api/v1/cases", headers={"Authorization": "Bearer lwt_" + "A" * 43})
check(r.status == 401, "unknown token")

# ---- ops open and close cases ----------------------------------------------------------
r = olga.post("/api/v1/cases", {"device": "fleet/car2", "agent": "bob", "expires": "2h", "reason": "order 2"})
check(r.status == 201, "ops open a case: %d %r" % (r.status, r.body))
case2 = r.json()["case_id"]
r = alice.post("/api/v1/cases", {"device": "fleet/car2", "agent": "alice", "expires": "2h", "reason": "x"})
check(r.status == 403, "agents do not open cases")
r = olga.post("/api/v1/cases", {"device": "fleet/car2", "agent": "bob", "expires": "2h", "reason": "dup"})
check(r.status == 409, "a second open case for the same agent and car: %d" % r.status)
r = olga.post("/api/v1/cases", {"device": "fleet/car3", "agent": "bob", "expires": "2h", "reason": "x"})
check(r.status == 400, "no case for an unwatched account: %d %r" % (r.status, r.body))
r = bob.get("/api/v1/vehicles/" + CAR2)
check(r.status == 200, "bob sees car2 with his new case")

# ---- live updates: a fix arrives, then the case closes and the stream ends ---------
events = []
done = threading.Event()


def stream():
    u = urllib.parse.urlparse(WEB)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("GET", "/api/v1/events", headers={"Cookie": bob.cookie})
    r = c.getresponse()
    events.append(("status", r.status))
    name = None
    while True:
        line = r.readline()
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    done.set()


th = threading.Thread(target=stream, daemon=True)
th.start()
time.sleep(1.5)
t_pub = time.time()
publish_fix("car2", 52.5310, 13.4110, int(t_pub))
# stored and streamed within 2 s
deadline = time.time() + 2
while time.time() < deadline and not any(e[0] == "fix" and e[1]["fix"]["lat"] > 52.5305 for e in events):
    time.sleep(0.05)
lat = [e for e in events if e[0] == "fix" and e[1]["fix"]["lat"] > 52.5305]
check(lat, "the new fix reached the stream: %r" % events)
print("web_api: SSE delivery %.2f s after publishing" % (time.time() - t_pub))
con = sqlite3.connect(DB)
n_stream = con.execute("SELECT count(*) FROM audit WHERE action = 'web stream' AND who = 'bob' "
                       "AND device = 'fleet/car2' AND basis = 'case'").fetchone()[0]
con.close()
check(n_stream >= 2, "each streamed fix is a recorded look: %d" % n_stream)
r = olga.post("/api/v1/cases/%d/close" % case2, {"outcome": "recovered"})
check(r.status == 200, "close: %d %r" % (r.status, r.body))
check(done.wait(5), "the stream ended when the case closed: %r" % events)
check(any(e[0] == "end" for e in events), "an end event: %r" % events)
r = bob.get("/api/v1/vehicles/" + CAR2)
check(r.status == 404, "closed case: no more access")
r = olga.post("/api/v1/cases/%d/close" % case2, {"outcome": "recovered"})
check(r.status == 409, "closing twice")
r = olga.post("/api/v1/cases/%d/close" % case2, {"outcome": "sold"})
check(r.status == 400, "unknown outcome")

# ---- expiry -------------------------------------------------------------------------
r = olga.post("/api/v1/cases", {"device": "fleet/car2", "agent": "bob", "expires": "2s", "reason": "short"})
check(r.status == 201, "short case")
check(bob.get("/api/v1/vehicles/" + CAR2).status == 200, "while it lasts")
time.sleep(2.3)
check(bob.get("/api/v1/vehicles/" + CAR2).status == 404, "expired case: 404")

# ---- paid up: access ends at once ----------------------------------------------------
tess = Session("tess", "tess-secret-55555")
check(tess.get("/api/v1/vehicles/" + CAR4).status == 200, "tess sees car4")
lw("account", "set", "A-4", "--days-past-due", "0", "--status", "paid_off")
r = tess.get("/api/v1/vehicles/" + CAR4)
check(r.status == 404, "a paid-up account ends the agent's access: %d" % r.status)
check(tess.get("/api/v1/cases").json() == [], "and the case leaves the list")

# ---- alerts (ops) -------------------------------------------------------------------
deadline = time.time() + 10
while time.time() < deadline and not [a for a in olga.get("/api/v1/alerts?open=1").json()
                                      if a["device"] == "fleet/car6"]:
    time.sleep(0.2)
al = [a for a in olga.get("/api/v1/alerts?open=1").json() if a["device"] == "fleet/car6"]
check(al and al[0]["kind"] == "offline" and al[0]["state"] == "open", "offline alert of car6: %r" % al)
r = req("GET", "/api/v1/alerts?open=1", headers={"Authorization": "Bearer " + TOKEN})
check(any(a["device"] == "fleet/car6" for a in r.json()), "the ops token sees it too")
r = tess.get("/api/v1/alerts?open=1")
check(r.status in (200, 401) and not (r.status == 200 and any(a["device"] == "fleet/car6" for a in r.json())),
      "an agent does not see alerts of cars outside her cases")
r = olga.post("/api/v1/alerts/%d/ack" % al[0]["id"], {"note": "driving there <b>now</b>"})
check(r.status == 200 and r.json()["state"] == "acknowledged", "ack: %d %r" % (r.status, r.body))
a = [x for x in olga.get("/api/v1/alerts?open=1").json() if x["id"] == al[0]["id"]][0]
check(a["state"] == "acknowledged" and a["ack_by"] == "olga" and a["ack_note"] == "driving there <b>now</b>",
      "acknowledged by olga with the note as text: %r" % a)
r = olga.post("/api/v1/alerts/%d/ack" % al[0]["id"], {"note": "again"})
check(r.status in (200, 409), "acknowledging twice: %d" % r.status)
r = olga.post("/api/v1/alerts/999999/ack", {"note": "seen"})
check(r.status == 404, "ack of an unknown alert")
r = alice.post("/api/v1/alerts/1/ack", {"note": "x"})
check(r.status == 403, "agents do not acknowledge")

# ---- bad input --------------------------------------------------------------------------
for method, path, body, want in (
        ("GET", "/api/v1/nothing", None, 404),
        ("PUT", "/api/v1/cases", None, 405),
        ("DELETE", "/api/v1/vehicles/" + CAR1, None, 405),
        ("GET", "/api/v1/vehicles/%ZZ", None, 400),
        ("GET", "/api/v1/vehicles/a%00b", None, 400),
        ("GET", "/api/v1/commands/-1", None, 400),
        ("GET", "/api/v1/commands/abc", None, 400),
        ("GET", "/api/v1/cases?lat=91&lon=0", None, 400),
        ("GET", "/api/v1/cases?lat=nan&lon=0", None, 400),
        ("GET", "/api/v1/cases?lat=1", None, 400),
        ("GET", "/api/v1/near?lat=1&lon=1&radius_m=1e12", None, 400),
        ("POST", "/api/v1/cases", b"{not json", 400),
        ("POST", "/api/v1/cases", b"[1,2]", 400),
        ("POST", "/api/v1/cases", b'{"device":"fleet/car2","agent":"bob","expires":"2h","reason":"x","extra":1}', 400),
        ("POST", "/api/v1/cases", b'{"device":1}', 400),
        ("POST", "/api/v1/cases", b"x" * 70000, 413)):
    r = req(method, path, raw=body, headers=olga.h())
    check(r.status == want, "%s %s: %d, wanted %d (%r)" % (method, path[:40], r.status, want, r.body[:100]))
    check(r.header("Content-Type") == ["application/json"] and "error" in r.json(),
          "errors are JSON: %r" % r.body[:100])
# bodies too big are refused before they are read: the answer comes while
# the client is still sending, and the service's memory does not grow


def rss_kib():
    with open("/proc/%s/status" % os.environ["WPID"]) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def send_big(head, chunk, total):
    """Sends head then chunk bytes until total or until the service closes;
    returns (status line, JSON error, bytes sent before the answer, seconds)."""
    import socket
    u = urllib.parse.urlparse(WEB)
    s = socket.create_connection((u.hostname, u.port), timeout=20)
    s.sendall(head)
    answer = b""
    sent = 0
    t0 = time.time()
    stop = threading.Event()

    def pump():
        nonlocal sent
        try:
            while sent < total and not stop.is_set():
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the service closed the connection: what is wanted
    th = threading.Thread(target=pump)
    th.start()
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        d = s.recv(65536)
        if not d:
            break
        answer += d
    dt = time.time() - t0
    stop.set()
    th.join()
    s.close()
    head_part, _, body = answer.partition(b"\r\n\r\n")
    return head_part.split(b"\r\n")[0].decode(), json.loads(body or b"null"), sent, dt


rss0 = rss_kib()
line, err, sent, dt = send_big(
    b"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000000000000\r\n\r\n", b"x" * 65536, 64 << 20)
check(line.startswith("HTTP/1.1 413"), "a huge Content-Length: 413 at once: %r" % line)
check(err and "65536" in err["error"] and "1000000000000" in err["error"],
      "the 413 says why: %r" % err)
check(sent < 64 << 20 and dt < 5, "answered before the body was sent (%d bytes sent, %.1f s)" % (sent, dt))
line, err, sent, dt = send_big(
    b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n", b"10000\r\n" + b"x" * 65536 + b"\r\n", 64 << 20)
check(line.startswith("HTTP/1.1 411"), "a chunked body: 411 at once: %r" % line)
check(err and "Content-Length" in err["error"], "the 411 says what to do: %r" % err)
check(sent < 64 << 20 and dt < 5, "not read to its end (%d bytes sent, %.1f s)" % (sent, dt))
check(rss_kib() - rss0 < 16 * 1024, "the service buffered none of it: RSS %d -> %d KiB" % (rss0, rss_kib()))
r = req("POST", "/api/v1/cases", raw=b"x" * 65537, headers=olga.h())
check(r.status == 413, "one byte over the limit: %d" % r.status)
check(req("GET", "/").status == 200, "the service still answers")
csp = req("GET", "/").header("Content-Security-Policy")
check(csp and "script-src 'self'" in csp[0] and "unsafe-inline" not in csp[0], "CSP: %r" % csp)

# ---- places (where it usually parks) -------------------------------------------------------
# a day of car1's life before its last fix: at home (where it is now) from
# 20 h to 12 h ago, then at work 3 km away from 10 h to 2 h ago; and a
# night for car2, which alice has no case for
now = int(time.time())
home, work = (52.5200, 13.4050), (52.5030, 13.4420)
msgs = []
for t in range(now - 20 * 3600, now - 12 * 3600, 600):
    msgs.append(("car1", home, t))
for t in range(now - 10 * 3600, now - 2 * 3600, 600):
    msgs.append(("car1", work, t))
for t in range(now - 6000, now - 120, 300):  # home again: there now
    msgs.append(("car1", home, t))
for t in range(now - 8 * 3600, now - 4 * 3600, 600):
    msgs.append(("car2", home, t))
publish.multiple([{"topic": "owntracks/fleet/" + d, "qos": 1,
                   "payload": json.dumps({"_type": "location", "lat": p[0], "lon": p[1],
                                          "tst": t, "acc": 10, "vel": 0})}
                  for d, p, t in msgs], hostname="127.0.0.1", port=MQ)


def stored_fixes(dev):
    con = sqlite3.connect(DB)
    n = con.execute("SELECT count(*) FROM fixes WHERE device = ?", (dev,)).fetchone()[0]
    con.close()
    return n


end = time.time() + 20
while time.time() < end and stored_fixes("fleet/car1") < 117:
    time.sleep(0.2)
check(stored_fixes("fleet/car1") >= 117, "car1's day stored: %d fixes" % stored_fixes("fleet/car1"))
n0 = audit_count()
r = alice.get("/api/v1/vehicles/" + CAR1 + "/places")
check(r.status == 200, "alice car1 places: %d %r" % (r.status, r.body[:200]))
pl = r.json()
check(pl["device"] == "fleet/car1" and pl["days"] == 30 and pl["timezone"], "places answer: %r" % pl)
ps = pl["places"]
check(len(ps) == 2, "two places, home and work: %r" % ps)
check(ps[0]["rank"] == 1 and ps[0]["here_now"] and abs(ps[0]["lat"] - home[0]) < 0.001 and
      abs(ps[0]["lon"] - home[1]) < 0.001, "home first, where the car is now: %r" % ps[0])
check(abs(ps[1]["lat"] - work[0]) < 0.001 and not ps[1]["here_now"], "work second: %r" % ps[1])
check(ps[0]["likely_now"] > ps[1]["likely_now"] and len(ps[0]["usual_hours"]) == 24 and
      ps[0]["visits"] == 2 and ps[1]["visits"] == 1 and ps[1]["dwell_s"] > 6 * 3600,
      "place figures: %r" % ps)
for k in ("radius_m", "nights", "first_seen", "last_seen"):
    check(k in ps[0], "place field " + k)
check(audit_count() == n0 + 1, "one audit record for the places look")
a = last_audit()
check(a["action"] == "web places" and a["basis"] == "case" and a["case_id"] == str(CASE1) and
      a["device"] == "fleet/car1", "audit of the places look: %r" % a)
r = alice.get("/api/v1/vehicles/" + CAR2 + "/places")
check(r.status == 404 and r.json() == {"error": "no such vehicle"}, "agent: no places of another car")
check(bob.get("/api/v1/vehicles/" + CAR1 + "/places").status == 404, "bob: no places of alice's car")
r = olga.get("/api/v1/vehicles/" + CAR3 + "/places")
check(r.status == 403 and "reason" in r.json()["error"], "ops need a reason for an unwatched car")
r = olga.get("/api/v1/vehicles/" + CAR2 + "/places?days=1")
check(r.status == 200 and len(r.json()["places"]) == 1 and r.json()["days"] == 1,
      "ops: car2's one place: %r" % r.body[:200])
check(last_audit()["basis"] == "watched", "ops places basis watched")
for q in ("days=0", "days=91", "days=x", "days=1.5"):
    r = olga.get("/api/v1/vehicles/" + CAR2 + "/places?" + q)
    check(r.status == 400 and "days" in r.json()["error"], "%s: %d %r" % (q, r.status, r.body))
r = req("GET", "/api/v1/vehicles/" + CAR1 + "/places")
check(r.status == 401, "places need a session")
check(req("GET", "/api/v1/vehicles/" + CAR1 + "/places",
          headers={"Authorization": "Bearer " + "lwt_nope"}).status == 401, "bad token")

# ---- a busy database ------------------------------------------------------------------------
# another writer (as lienwatchd during a long commit) holds the write lock:
# a request that must write (the list records its looks) waits briefly and
# is answered 503 with Retry-After, without holding up the others; what
# only reads is answered as usual; once the lock is free, all is well again
holder = sqlite3.connect(DB, isolation_level=None, timeout=10)
holder.execute("BEGIN IMMEDIATE")
try:
    slow = []

    def timed(fn):
        t0 = time.time()
        r = fn()
        slow.append(time.time() - t0)
        return r

    r = timed(lambda: olga.get("/api/v1/cases"))
    check(r.status == 503 and r.header("Retry-After") == ["1"] and "error" in r.json(),
          "a list while another writer holds the lock: 503 + Retry-After: %d %r %r"
          % (r.status, r.header("Retry-After"), r.body[:200]))
    check("locked" in r.json()["error"] or "busy" in r.json()["error"],
          "the 503 says the database is busy: %r" % r.body)
    r = timed(lambda: olga.get("/api/v1/session"))
    check(r.status == 200, "who am I, while the lock is held: %d" % r.status)
    r = timed(lambda: req("GET", "/api/v1/commands/1", headers={"Authorization": "Bearer " + TOKEN}))
    check(r.status in (200, 404), "a read while the lock is held: %d %r" % (r.status, r.body[:100]))
    # several at once: the loop does not stop for a second per write
    ths = [threading.Thread(target=lambda: timed(lambda: olga.get("/api/v1/cases")))
           for _ in range(5)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    print("web_api: answer times while the lock is held: %s s" %
          " ".join("%.3f" % x for x in slow))
    check(max(slow) < 1.0, "no answer waited a second for the lock: %r" % slow)
finally:
    holder.execute("ROLLBACK")
    holder.close()
r = olga.get("/api/v1/cases")
check(r.status == 200, "the lock released: lists again: %d" % r.status)

# ---- logout ------------------------------------------------------------------------------
r = req("DELETE", "/api/v1/session", headers=alice.h())
check(r.status == 200 and "Max-Age=0" in r.header("Set-Cookie")[0], "logout clears the cookie")
check(alice.get("/api/v1/cases").status == 401, "the old cookie is dead")

# ---- idle expiry (second service: session_idle 2s, session_max 4s) -------------------------
s2 = Session("olga", "olga-secret-333", base=WEB2)
check(s2.get("/api/v1/cases").status == 200, "fresh session")
time.sleep(1.2)
check(s2.get("/api/v1/cases").status == 200, "used within the idle time")
time.sleep(2.3)
check(s2.get("/api/v1/cases").status == 401, "idle expiry")
s3 = Session("olga", "olga-secret-333", base=WEB2)
for _ in range(4):
    time.sleep(1.0)
    s3.get("/api/v1/cases")
check(s3.get("/api/v1/cases").status == 401, "absolute expiry although used")

# ---- disabled user: out at once ---------------------------------------------------------------
lw("user", "disable", "tess")
check(tess.get("/api/v1/cases").status == 401, "a disabled user's session ends")

# ---- throttling (last: it locks this client address out) -----------------------------------------
# this address failed twice at the start (alice, nobody): three more make 5
for i in range(3):
    r = req("POST", "/api/v1/session", {"username": "bob", "password": "nope-%d" % i})
    check(r.status == 401, "failure %d: %d" % (i, r.status))
r = req("POST", "/api/v1/session", {"username": "bob", "password": "bob-secret-22"})
check(r.status == 429 and r.header("Retry-After"), "after 5 failures from one address, throttled even with the right password: %d" % r.status)
r = req("POST", "/api/v1/session", {"username": "olga", "password": "olga-secret-333"})
check(r.status == 429, "the client address is throttled for every name: %d" % r.status)
# per user name, from another address: the second service sees only these
for i in range(5):
    r = req("POST", "/api/v1/session", {"username": "adam", "password": "nope-%d" % i}, base=WEB2)
    check(r.status == 401, "adam failure %d: %d" % (i, r.status))
r = req("POST", "/api/v1/session", {"username": "adam", "password": "adam-secret-4444"}, base=WEB2)
check(r.status == 429, "5 failures of one user name: throttled: %d" % r.status)

print("web_api: %d checks passed" % checks)
