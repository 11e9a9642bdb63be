#!/bin/bash
# gps_jump end to end, with a real mosquitto and lienwatchd: a spoofed fix
# 50 km away, 10 s after a fix at home, both with 10 m accuracy (over
# 300 km/h, ingest.max_speed_kmh's default):
#   A. raises one gps_jump (with the suspect position) and no geofence_exit,
#      although one fix outside would confirm an exit here
#      (alerts.confirm_fixes = 1); the fix is stored, flagged suspect
#      (fix_suspect), counted (stats: suspect), and the last-known fix
#      (locate, the state topic) stays at home;
#   B. more spoofs within the hour: no second gps_jump; the last-known fix
#      still at home;
#   C. a jump confirmed by the next fix (a car carried away with its
#      tracker off): the exit is raised and locate shows the new place;
#   D. history shows the suspect fixes as such (json: "suspect": "jump");
#   E. a tracker whose fixes were less accurate than 1 km for 10 minutes
#      before it went silent: offline with "jamming_suspected": true (in
#      `lienwatch alerts` and on MQTT); one with good fixes: false.
source "$(dirname "$0")/../lib.sh"
lw_setup
PORT=$(free_port)
start_mosquitto "$PORT"
DB="$T/lw.db"
LW() { "$BIN/lienwatch" --db "$DB" --as jump-test "$@"; }
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
HOME_LAT=41.15 HOME_LON=-8.61
FAR_LAT=41.60  # 50 km north
fix() { # DEVICE LAT LON TST [ACC]
    mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$1" \
        -m "{\"_type\":\"location\",\"lat\":$2,\"lon\":$3,\"tst\":$4,\"acc\":${5:-10}}" ||
        fail "cannot publish"
}
count() { # KIND DEVICE
    LW alerts --json | $PY -c 'import json,sys; k,d=sys.argv[1:3]; print(sum(1 for a in json.load(sys.stdin) if a["kind"]==k and a["device"]==d))' "$1" "$2"
}
has_count() { [ "$(count "$2" "$3")" = "$1" ]; }
n_fixes() { [ "$(sqlite3 "$DB" "SELECT count(*) FROM fixes WHERE device = '$2'")" = "$1" ]; }
last_lat() { LW locate "$1" --json | $PY -c 'import json,sys; print(round(json.load(sys.stdin)["lat"], 4))'; }

LW init-db >/dev/null
LW geofence add-circle home "$HOME_LAT" "$HOME_LON" 3000 --kind keep_in >/dev/null
LW account set L1 --days-past-due 45 --status overdue >/dev/null
LW vehicle set t/v1 --account L1 --plate AA-11-BB >/dev/null
mosquitto_sub -p "$PORT" -t 'lienwatch/v1/alert/#' -t 'lienwatch/v1/state/t/v1' -v >"$T/mqtt.log" 2>/dev/null &
lw_track $!
lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" \
    --set mqtt.client_id=lw-jump --set alerts.confirm_fixes=1 \
    --set mqtt.state_interval=0 -v >"$T/d.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for $((20 * SLOW)) grep -q "subscribed to lienwatch/v1/account/+ (QoS 1 granted)" "$T/d.log" ||
    fail "daemon did not subscribe: $(tail -3 "$T/d.log")"

# ---- A
t0=$(( $(date +%s) - 3000 ))
fix t/v1 "$HOME_LAT" "$HOME_LON" "$t0"
fix t/v1 "$FAR_LAT" "$HOME_LON" $((t0 + 10))
wait_for $((10 * SLOW)) has_count 1 gps_jump t/v1 ||
    fail "A: no gps_jump: $(LW alerts --json) $(tail -5 "$T/d.log")"
wait_for $((5 * SLOW)) n_fixes 2 t/v1 || fail "A: the suspect fix was not stored"
[ "$(count geofence_exit t/v1)" = 0 ] || fail "A: a spoofed fix raised geofence_exit"
[ "$(last_lat t/v1)" = "$HOME_LAT" ] || fail "A: the last-known fix moved to $(last_lat t/v1)"
[ "$(sqlite3 "$DB" "SELECT kind FROM fix_suspect WHERE device = 't/v1' AND fix_time_ms = $(( (t0 + 10) * 1000 ))")" = jump ] ||
    fail "A: the fix is not flagged suspect"
LW alerts --json | $PY -c '
import json, sys
a = [x for x in json.load(sys.stdin) if x["kind"] == "gps_jump"][0]
assert abs(a["fix"]["lat"] - 41.60) < 1e-6, a
' || fail "A: gps_jump does not carry the suspect position: $(LW alerts --json)"
# the retained state topic does not show the spoofed position either
sleep 1
grep '^lienwatch/v1/state/t/v1 ' "$T/mqtt.log" | tail -1 | cut -d' ' -f2- | $PY -c '
import json, sys
d = json.load(sys.stdin)
assert abs(d["last_fix"]["lat"] - 41.15) < 1e-6, d
' || fail "A: the state topic shows the spoofed fix: $(grep state "$T/mqtt.log" | tail -2)"
LW stats --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
c = d.get("counters", d)
assert c.get("suspect") == 1, d
' || fail "A: suspect not counted: $(LW stats --json)"

# ---- B: back home, then more spoofs within the hour
fix t/v1 "$HOME_LAT" "$HOME_LON" $((t0 + 20))
fix t/v1 "$FAR_LAT" "$HOME_LON" $((t0 + 300))
fix t/v1 "$HOME_LAT" "$HOME_LON" $((t0 + 310))
fix t/v1 "$FAR_LAT" "$HOME_LON" $((t0 + 400))
wait_for $((10 * SLOW)) n_fixes 6 t/v1 || fail "B: fixes not stored"
sleep 1
[ "$(count gps_jump t/v1)" = 1 ] || fail "B: gps_jump repeated within the hour"
[ "$(count geofence_exit t/v1)" = 0 ] || fail "B: spoofed fixes raised geofence_exit"
[ "$(last_lat t/v1)" = "$HOME_LAT" ] || fail "B: the last-known fix moved to $(last_lat t/v1)"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM fix_suspect")" = 3 ] || fail "B: not 3 suspect fixes"

# ---- C: the jump at t0+400 is confirmed by a fix near it
fix t/v1 41.601 "$HOME_LON" $((t0 + 410))
wait_for $((10 * SLOW)) has_count 1 geofence_exit t/v1 ||
    fail "C: a confirmed jump did not raise geofence_exit: $(LW alerts --json)"
[ "$(last_lat t/v1)" = 41.601 ] || fail "C: locate shows $(last_lat t/v1), not the confirmed place"

# ---- D: history shows which fixes were suspect
LW history t/v1 --format json >"$T/h.json" || fail "D: history"
$PY - "$T/h.json" <<'EOF' || fail "D: history does not show the suspect fixes: $(cat "$T/h.json")"
import json, sys
h = json.load(open(sys.argv[1]))
sus = [f for f in h if f.get("suspect") == "jump"]
assert len(sus) == 3 and all(abs(f["lat"] - 41.60) < 1e-6 for f in sus), sus
assert all("suspect" not in f or f["suspect"] is None for f in h if f not in sus)
EOF
LW history t/v1 --format geojson >"$T/h.geojson" || fail "D: history geojson"
$PY - "$T/h.geojson" <<'EOF' || fail "D: GeoJSON lacks the suspect flags"
import json, sys
g = json.load(open(sys.argv[1]))
pts = [f for f in g["features"] if f["geometry"]["type"] == "Point"]
assert sum(1 for f in pts if f["properties"].get("suspect") == "jump") == 3
EOF

# ---- E: jamming: 11 minutes of fixes worse than 1 km, then silence
LW vehicle set t/jam --account L1 --offline-after 6s >/dev/null
LW vehicle set t/ok --account L1 --offline-after 6s >/dev/null
t1=$(( $(date +%s) - 700 ))
fix t/ok "$HOME_LAT" "$HOME_LON" "$t1" 10
fix t/jam "$HOME_LAT" "$HOME_LON" "$t1" 10
for i in $(seq 1 12); do
    fix t/jam "$HOME_LAT" "$HOME_LON" $((t1 + i * 55)) 2500
    fix t/ok "$HOME_LAT" "$HOME_LON" $((t1 + i * 55)) 12
done
wait_for $((20 * SLOW)) has_count 1 offline t/jam || fail "E: no offline for t/jam"
wait_for $((20 * SLOW)) has_count 1 offline t/ok || fail "E: no offline for t/ok"
LW alerts --json | $PY -c '
import json, sys
off = {a["device"]: a for a in json.load(sys.stdin) if a["kind"] == "offline"}
assert off["t/jam"]["jamming_suspected"] is True, off["t/jam"]
assert off["t/ok"]["jamming_suspected"] is False, off["t/ok"]
' || fail "E: jamming_suspected wrong: $(LW alerts --json)"
wait_for $((5 * SLOW)) grep -q '^lienwatch/v1/alert/t/jam .*"jamming_suspected":true' "$T/mqtt.log" ||
    fail "E: not on MQTT: $(cat "$T/mqtt.log")"
say "ok"
