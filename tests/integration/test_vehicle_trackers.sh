#!/bin/bash
# Vehicles with several trackers, end to end with a real mosquitto and
# lienwatchd:
#   A. 'vehicle attach|detach|show' as an operator types them: --help, the
#      usage errors (exit 2), a device already in a vehicle (exit 1), an
#      unknown vehicle (exit 3), the install record kept after a detach,
#      every change in the audit trail;
#      the state topic of each tracker names its vehicle and trackers;
#   B. locate --vin: each tracker's last fix, newest first, with its role,
#      one audit record per tracker naming the vehicle (places --vin too);
#      a vehicle that is not watched is refused (exit 4) without --reason
#      for all trackers;
#   C. history --vin: the trackers' fixes merged by time, each tagged with
#      its device, in csv, json, geojson, gpx and kml; a fix flagged
#      suspect is marked in every format; a tracker's fixes after its
#      detach are not the vehicle's;
#   D. a database of schema 8 where two trackers were registered with one
#      VIN (locate called it ambiguous) is upgraded: one vehicle, both
#      trackers, locate --vin shows both.
source "$(dirname "$0")/../lib.sh"
lw_setup
PORT=$(free_port)
start_mosquitto "$PORT"
DB="$T/lw.db"
LW() { "$BIN/lienwatch" --db "$DB" --as trackers-test "$@"; }
# lw EXPECTED_STATUS ARGS...: runs LW, output in $T/out and $T/err
lw() {
    local want=$1 rc=0
    shift
    LW "$@" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = "$want" ] || fail "lienwatch $*: exit $rc, expected $want: $(cat "$T/err") $(head -5 "$T/out")"
}
err_has() { grep -qF -- "$1" "$T/err" || fail "stderr lacks '$1': $(cat "$T/err")"; }
out_has() { grep -qF -- "$1" "$T/out" || fail "stdout lacks '$1': $(cat "$T/out")"; }
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
VIN=1HGCM82633A004352
fix() { # DEVICE LAT LON TST
    mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$1" \
        -m "{\"_type\":\"location\",\"lat\":$2,\"lon\":$3,\"tst\":$4,\"acc\":10}" ||
        fail "cannot publish"
}
n_fixes() { [ "$(sqlite3 "$DB" "SELECT count(*) FROM fixes WHERE device = '$1'")" = "$2" ]; }
audits() { sqlite3 "$DB" "SELECT count(*) FROM audit WHERE action = '$1' AND device = '$2'"; }

LW init-db >/dev/null
LW account set L1 --days-past-due 45 --status overdue >/dev/null
LW account set L2 --days-past-due 0 >/dev/null
lw 0 vehicle set t/wired --vin "$VIN" --plate 'AB-123' --description 'red Panda' --account L1

# ---- A. attach, detach, show as typed
lw 0 vehicle attach --help
out_has "vehicle attach VIN DEVICE [--role wired|hidden] [--installed-at T]"
out_has "--disclosure-signed DATE"
out_has "EXIT STATUS"
lw 0 vehicle --help
out_has "vehicle detach VIN DEVICE [--at T]"
lw 2 vehicle attach "$VIN"
err_has "DEVICE missing"
lw 2 vehicle attach "$VIN" t/hidden --role glued
err_has "--role 'glued' is neither wired nor hidden"
lw 2 vehicle attach "$VIN" t/hidden --disclosure-signed 2026-02-30
err_has "--disclosure-signed '2026-02-30' is not a date (YYYY-MM-DD)"
lw 2 vehicle attach "$VIN" t/hidden --installed-at 'last tuesday'
lw 2 vehicle attach -- '---' t/hidden
err_has "has no letters or digits"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM vehicle_devices WHERE device = 't/hidden'")" = 0 ] ||
    fail "A: a refused attach left a record"
now=$(date +%s)
lw 0 vehicle attach 1hgcm8-2633a004352 t/hidden --role hidden \
    --installed-at "$(date -u -d "@$((now - 86400))" +%Y-%m-%dT%H:%M:%SZ)" \
    --installer 'Garage Nord' --disclosure-signed 2026-11-01
out_has "tracker t/hidden attached to vehicle $VIN as hidden"
lw 1 vehicle attach "$VIN" t/hidden
err_has "device t/hidden is already in vehicle $VIN"
lw 1 vehicle attach WVWZZZ1JZXW000001 t/hidden
err_has "device t/hidden is in vehicle $VIN"
lw 3 vehicle detach WVWZZZ1JZXW000001 t/hidden
err_has "no vehicle with the VIN 'WVWZZZ1JZXW000001'"
lw 3 vehicle detach "$VIN" t/nobody
err_has "device t/nobody is not in vehicle $VIN"
lw 3 vehicle show NOSUCHVIN
# the attached tracker took the vehicle's plate and account: watched too
LW vehicle list --json | $PY -c '
import json, sys
v = {x["device"]: x for x in json.load(sys.stdin)}
assert v["t/hidden"]["account"] == "L1" and v["t/hidden"]["plate"] == "AB-123", v
' || fail "A: the attached tracker is not registered with the vehicle's account"
lw 0 vehicle show "$VIN" --json
$PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["vin"] == sys.argv[2], d
devs = {x["device"]: x for x in d["devices"]}
assert set(devs) == {"t/wired", "t/hidden"}, d
h = devs["t/hidden"]
assert h["role"] == "hidden" and h["installer"] == "Garage Nord", h
assert h["disclosure_signed"] == "2026-11-01" and h["installed"] and h["attached_now"], h
assert devs["t/wired"]["role"] is None, d
' "$T/out" "$VIN" || fail "A: vehicle show --json: $(cat "$T/out")"
[ "$(audits 'vehicle attach' t/hidden)" = 1 ] || fail "A: the attach is not in the audit trail"

# ---- the daemon, and fixes of both trackers
mosquitto_sub -p "$PORT" -t 'lienwatch/v1/state/t/hidden' -v >"$T/state.log" 2>/dev/null &
lw_track $!
lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" \
    --set mqtt.client_id=lw-trackers --set ingest.max_speed_kmh=0 \
    --set alerts.parked_alert_after=0 --set mqtt.state_interval=0 \
    -v >"$T/d.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for $((20 * SLOW)) grep -q "subscribed to lienwatch/v1/account/+ (QoS 1 granted)" "$T/d.log" ||
    fail "daemon did not subscribe: $(tail -3 "$T/d.log")"
t0=$((now - 600))
fix t/wired 45.0000 7.0000 "$t0"
fix t/hidden 45.0001 7.0001 $((t0 + 20))
fix t/wired 45.0010 7.0010 $((t0 + 60))
fix t/hidden 45.0011 7.0011 $((t0 + 90))
fix t/other 10.0 10.0 $((t0 + 30))
wait_for $((10 * SLOW)) n_fixes t/wired 2 || fail "fixes of t/wired not stored"
wait_for $((10 * SLOW)) n_fixes t/hidden 2 || fail "fixes of t/hidden not stored"

# the state topic names the vehicle and its trackers
state_has_vehicle() {
    tail -1 "$T/state.log" | cut -d' ' -f2- | $PY -c '
import json, sys
d = json.load(sys.stdin)
v = d["vehicle"]
assert v["vehicle"] == sys.argv[1] and v["role"] == "hidden", d
assert sorted(v["trackers"]) == ["t/hidden", "t/wired"], d
' "$VIN" 2>/dev/null
}
wait_for $((10 * SLOW)) state_has_vehicle ||
    fail "state topic without the vehicle: $(tail -1 "$T/state.log")"

# ---- B. locate --vin
lw 0 locate --vin "$VIN"
out_has "vehicle     $VIN: 2 trackers, newest fix first"
out_has "tracker     t/hidden (hidden, installed "
out_has "tracker     t/wired (role not recorded)"
# newest first: t/hidden's fix is the newer one
[ "$(grep -n '^tracker ' "$T/out" | head -1 | cut -d' ' -f6)" = t/hidden ] ||
    fail "B: not newest first: $(cat "$T/out")"
[ "$(audits locate t/hidden)" = 1 ] && [ "$(audits locate t/wired)" = 1 ] ||
    fail "B: not one audit record per tracker: $(sqlite3 "$DB" "SELECT action, device, detail FROM audit")"
sqlite3 "$DB" "SELECT detail FROM audit WHERE action = 'locate' AND device = 't/wired'" |
    grep -qF "vehicle $VIN, trackers t/wired, t/hidden" || fail "B: the audit record does not name the vehicle"
lw 0 locate "$VIN" --json
$PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["vehicle"] == sys.argv[2] and d["vin"] == sys.argv[2], d
t = d["trackers"]
assert [x["device"] for x in t] == ["t/hidden", "t/wired"], t
assert t[0]["role"] == "hidden" and t[1]["role"] is None, t
assert abs(t[0]["lat"] - 45.0011) < 1e-9 and abs(t[1]["lat"] - 45.001) < 1e-9, t
assert t[0]["watched"] is True and t[0]["installed"], t
' "$T/out" "$VIN" || fail "B: locate --json: $(cat "$T/out")"
# places by VIN: both trackers' fixes, each tracker recorded
lw 0 places --vin "$VIN" --json
$PY -c 'import json,sys; assert isinstance(json.load(open(sys.argv[1])), list)' "$T/out" ||
    fail "B: places --vin: $(cat "$T/out")"
[ "$(audits places t/hidden)" = 1 ] && [ "$(audits places t/wired)" = 1 ] ||
    fail "B: places not recorded per tracker"
# a vehicle on a current account: refused for all without a reason
lw 0 vehicle set t/wired --account L2
lw 4 locate --vin "$VIN"
[ ! -s "$T/out" ] || fail "B: a refused locate printed: $(cat "$T/out")"
lw 0 locate --vin "$VIN" --reason 'case 7' --json
lw 0 vehicle set t/wired --account L1

# ---- C. history --vin, every format
sqlite3 "$DB" "INSERT INTO fix_suspect VALUES ('t/hidden', $(( (t0 + 20) * 1000 )), 'jump')"
lw 0 history --vin "$VIN"
$PY - "$T/out" <<'EOF' || fail "C: csv: $(cat "$T/out")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["device"] for r in rows] == ["t/wired", "t/hidden", "t/wired", "t/hidden"], rows
assert [r["suspect"] for r in rows] == ["", "jump", "", ""], rows
times = [r["fix_time"] for r in rows]
assert times == sorted(times), times
EOF
for f in json geojson gpx kml; do
    lw 0 history --vin "$VIN" --format "$f"
    cp "$T/out" "$T/h.$f"
done
$PY - "$T" <<'EOF' || fail "C: formats"
import json, sys, xml.etree.ElementTree as ET
T = sys.argv[1]
want = ["t/wired", "t/hidden", "t/wired", "t/hidden"]
j = json.load(open(T + "/h.json"))
assert [x["device"] for x in j] == want, j
assert [x.get("suspect") for x in j] == [None, "jump", None, None], j
g = json.load(open(T + "/h.geojson"))
pts = [f["properties"] for f in g["features"] if f["geometry"]["type"] == "Point"]
assert [p["device"] for p in pts] == want, pts
assert [p.get("suspect") for p in pts] == [None, "jump", None, None], pts
# a line per tracker, not one zigzagging between them
lines = {f["properties"]["device"]: f for f in g["features"] if f["geometry"]["type"] == "LineString"}
assert sorted(lines) == ["t/hidden", "t/wired"], lines
for d, f in lines.items():
    mine = [x for x in j if x["device"] == d]
    assert f["properties"]["fixes"] == len(mine) == len(f["geometry"]["coordinates"]), (d, f)
    assert f["geometry"]["coordinates"] == [[x["lon"], x["lat"]] for x in mine], (d, f, mine)
    assert f["properties"]["from"] == mine[0]["fix_time"] and f["properties"]["to"] == mine[-1]["fix_time"], (d, f)
# GPX and KML: a track per tracker (a map draws no line between trackers
# that are apart), each in time order, with the same fixes and flags
by_dev = {}
for x in j:
    by_dev.setdefault(x["device"], []).append((x["fix_time"], "jump" if x.get("suspect") else ""))
ns = {"g": "http://www.topografix.com/GPX/1/1"}
gpx = ET.parse(T + "/h.gpx").getroot()
trks = gpx.findall("g:trk", ns)
assert len(trks) == 2, [ET.tostring(t) for t in trks]
got = {}
for t in trks:
    pts = t.findall(".//g:trkpt", ns)
    devs = {p.find("g:src", ns).text for p in pts}
    assert len(devs) == 1, devs
    got[devs.pop()] = [(p.find("g:time", ns).text.replace("Z", ".000Z"),
                        "jump" if p.find("g:type", ns) is not None and p.find("g:type", ns).text == "suspect:jump" else "")
                       for p in pts]
assert {d: [(a[:19], b) for a, b in v] for d, v in got.items()} == \
    {d: [(a[:19], b) for a, b in v] for d, v in by_dev.items()}, (got, by_dev)
kns = {"k": "http://www.opengis.net/kml/2.2", "gx": "http://www.google.com/kml/ext/2.2"}
kml = ET.parse(T + "/h.kml").getroot()
tracks = list(kml.iter("{http://www.google.com/kml/ext/2.2}Track"))
assert len(tracks) == 2, len(tracks)
got = {}
for t in tracks:
    arr = {a.get("name"): [v.text or "" for v in a.findall("gx:value", kns)]
           for a in t.iter("{http://www.google.com/kml/ext/2.2}SimpleArrayData")}
    whens = [w.text for w in t.findall("k:when", kns)]
    assert len(set(arr["device"])) == 1 and len(whens) == len(arr["device"]), arr
    got[arr["device"][0]] = [(w[:19], s) for w, s in zip(whens, arr["suspect"])]
assert got == {d: [(a[:19], b) for a, b in v] for d, v in by_dev.items()}, (got, by_dev)
last = [p for p in kml.iter("{http://www.opengis.net/kml/2.2}Placemark")
        if (p.findtext("k:name", "", kns) or "").startswith("last fix")]
assert len(last) == 1 and last[0].findtext("k:name", "", kns) == "last fix: " + j[-1]["device"], \
    [ET.tostring(p) for p in last]
assert last[0].find(".//k:when", kns).text[:19] == j[-1]["fix_time"][:19], ET.tostring(last[0])
EOF
[ "$(audits history t/hidden)" -ge 1 ] || fail "C: history not recorded per tracker"
# one device's history (not by VIN) is as it was: its fixes only
lw 0 history --device t/hidden
[ "$(tail -n +2 "$T/out" | cut -d, -f7 | sort -u)" = t/hidden ] || fail "C: device history: $(cat "$T/out")"

# detached 30 s before its last fix: that fix is no longer the vehicle's
lw 0 vehicle detach "$VIN" t/hidden --at "$(date -u -d "@$((t0 + 60))" +%Y-%m-%dT%H:%M:%SZ)"
out_has "tracker t/hidden detached from vehicle $VIN"
[ "$(audits 'vehicle detach' t/hidden)" = 1 ] || fail "C: the detach is not in the audit trail"
lw 0 history --vin "$VIN"
[ "$(tail -n +2 "$T/out" | cut -d, -f7 | tr '\n' ' ')" = "t/wired t/hidden t/wired " ] ||
    fail "C: history after the detach: $(cat "$T/out")"
# the record is kept; locate shows the one tracker left, as before
lw 0 vehicle show "$VIN"
grep -q '^past  *t/hidden  *hidden' "$T/out" || fail "C: the record is not kept: $(cat "$T/out")"
lw 0 locate --vin "$VIN" --json
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["device"] == "t/wired", d' "$T/out" ||
    fail "C: locate with one tracker left: $(cat "$T/out")"
stop_checked "$DPID" lienwatchd

# ---- D. an old database: two trackers with one VIN become one vehicle
OLD="$T/old.db"
sqlite3 "$OLD" <"$ROOT/tests/fixtures/schema-v8.sql"
rc=0; "$BIN/lienwatch" --db "$OLD" locate --vin 1HGCM82633A004352 >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 1 ] || fail "D: an old database was read: exit $rc $(cat "$T/err")"
"$BIN/lienwatch" --db "$OLD" init-db >/dev/null 2>"$T/err" || fail "D: init-db: $(cat "$T/err")"
[ "$(sqlite3 "$OLD" 'SELECT max(version) FROM schema_version')" = 9 ] || fail "D: not upgraded"
[ "$(sqlite3 "$OLD" 'SELECT count(*) FROM vehicles')" = 4 ] || fail "D: vehicles lost"
"$BIN/lienwatch" --db "$OLD" --as t vehicle show 1HGCM82633A004352 --json >"$T/out" ||
    fail "D: vehicle show"
$PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted(x["device"] for x in d["devices"] if x["attached_now"]) == ["car/1", "car/3"], d
' "$T/out" || fail "D: the VIN's two trackers are not one vehicle: $(cat "$T/out")"
"$BIN/lienwatch" --db "$OLD" --as t locate --vin 1HGCM82633A004352 --json >"$T/out" 2>"$T/err" ||
    fail "D: locate --vin: $(cat "$T/err")"
$PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [x["device"] for x in d["trackers"]] == ["car/1", "car/3"], d
assert d["trackers"][1]["fix_time"] is None, d
' "$T/out" || fail "D: locate after the upgrade: $(cat "$T/out")"
"$BIN/lienwatch" --db "$OLD" vehicle show id:3 --json >"$T/out" || fail "D: the VIN-less vehicle"
say "OK"
