#!/bin/bash
# tracker_separation and tracker_lost end to end, with a real mosquitto and
# lienwatchd, for watched vehicles with two trackers each:
#   A. two trackers of one vehicle 1 km apart in two pairs of fixes taken
#      within 5 minutes: one tracker_separation, with both positions (in
#      'lienwatch alerts', on the MQTT alert topic and in its mail); more
#      pairs apart raise nothing more; a vehicle whose trackers stay 100 m
#      apart raises nothing; nor does an unwatched one;
#   B. the second tracker attached while lienwatchd runs (it reloads the
#      registry): one silent past half its allowance while the other keeps
#      reporting and moves 1 km: one tracker_lost naming the silent one,
#      with both positions; more fixes raise nothing more;
#   C. after a restart, the open alerts are remembered: the trackers still
#      apart and the one still silent raise nothing again.
source "$(dirname "$0")/../lib.sh"
lw_setup
PORT=$(free_port)
SPORT=$(free_port)
start_mosquitto "$PORT"
DB="$T/lw.db"
LW() { "$BIN/lienwatch" --db "$DB" --as tracker-alerts "$@"; }
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
fix() { # DEVICE NORTH_M TST: a fix NORTH_M north of a point in Porto
    local lat
    lat=$($PY -c "print(41.15 + $2 / 111195.0)")
    mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$1" \
        -m "{\"_type\":\"location\",\"lat\":$lat,\"lon\":-8.61,\"tst\":$3,\"acc\":10}" ||
        fail "cannot publish"
}
count() { # KIND [DEVICE]
    LW alerts --json | $PY -c '
import json, sys
k = sys.argv[1]; d = sys.argv[2] if len(sys.argv) > 2 else None
print(sum(1 for a in json.load(sys.stdin) if a["kind"] == k and (d is None or a["device"] == d)))' "$@"
}
has_count() { local n=$1; shift; [ "$(count "$@")" = "$n" ]; }
n_fixes() { [ "$(sqlite3 "$DB" "SELECT count(*) FROM fixes WHERE device = '$1'")" = "$2" ]; }

LW init-db >/dev/null
LW account set L1 --days-past-due 45 --status overdue >/dev/null
LW account set L0 --days-past-due 0 >/dev/null
LW vehicle set s/w --vin SEPVIN00000000001 --account L1 >/dev/null
LW vehicle attach SEPVIN00000000001 s/h --role hidden >/dev/null
LW vehicle set n/w --vin NEARVIN0000000001 --account L1 >/dev/null
LW vehicle attach NEARVIN0000000001 n/h --role hidden >/dev/null
LW vehicle set u/w --vin UNWVIN00000000001 --account L0 >/dev/null
LW vehicle attach UNWVIN00000000001 u/h >/dev/null
LW vehicle set l/w --vin LOSTVIN0000000001 --account L1 --offline-after 40s >/dev/null
LW vehicle set l/h --account L1 --offline-after 40s >/dev/null
mosquitto_sub -p "$PORT" -t 'lienwatch/v1/alert/#' -v >"$T/mqtt.log" 2>/dev/null &
lw_track $!
lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" \
    --set mqtt.client_id=lw-tracker-alerts --set ingest.max_speed_kmh=0 \
    --set alerts.parked_alert_after=0 --set mqtt.state_interval=0 \
    --set smtp.url="smtp://127.0.0.1:$SPORT" --set smtp.starttls=no \
    --set smtp.from=alerts@lender.example --set smtp.to=ops@lender.example \
    -v >"$T/d.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for $((20 * SLOW)) grep -q "subscribed to lienwatch/v1/account/+ (QoS 1 granted)" "$T/d.log" ||
    fail "daemon did not subscribe: $(tail -3 "$T/d.log")"

# ---- A. separation
t0=$(( $(date +%s) - 900 ))
for p in s n u; do
    far=1000; [ $p = n ] && far=100
    fix $p/w 0 "$t0"
    fix $p/h "$far" $((t0 + 20))   # pair 1 (20 s apart)
    fix $p/w 0 $((t0 + 200))       # the same fix of h: no second pair
    fix $p/h "$far" $((t0 + 230))  # pair 2 (30 s apart)
done
wait_for $((10 * SLOW)) has_count 1 tracker_separation s/h ||
    fail "A: no tracker_separation: $(LW alerts --json) $(tail -5 "$T/d.log")"
# more pairs apart: still one
for i in 1 2 3; do
    fix s/h 1000 $((t0 + 240 + i * 60))
    fix s/w 0 $((t0 + 260 + i * 60))
done
wait_for $((10 * SLOW)) n_fixes s/w 5 || fail "A: fixes not stored"
sleep 1
[ "$(count tracker_separation)" = 1 ] ||
    fail "A: separation raised $(count tracker_separation) times: $(LW alerts --json)"
LW alerts --json | $PY -c '
import json, sys
a = [x for x in json.load(sys.stdin) if x["kind"] == "tracker_separation"][0]
assert a["device"] == "s/h" and a["other"]["device"] == "s/w", a
assert abs(a["fix"]["lat"] - (41.15 + 1000 / 111195.0)) < 1e-6, a
assert abs(a["other"]["fix"]["lat"] - 41.15) < 1e-6, a
assert 990 < a["other"]["distance_m"] < 1010, a
' || fail "A: the alert lacks both positions: $(LW alerts --json)"
# the table names the other tracker and the distance in FENCE/OTHER
LW alerts | grep -q '^ *[0-9]* .* tracker_separation *s/h .* with s/w ([0-9]* m) ' ||
    fail "A: 'lienwatch alerts' does not name the other tracker: $(LW alerts)"
grep '^lienwatch/v1/alert/s/h ' "$T/mqtt.log" | cut -d' ' -f2- | $PY -c '
import json, sys
k = [json.loads(l) for l in sys.stdin if l.strip()]
s = [x for x in k if x["kind"] == "tracker_separation"]
assert len(s) == 1 and s[0]["other"]["device"] == "s/w" and s[0]["other"]["fix"], k
' || fail "A: not on the alert topic: $(cat "$T/mqtt.log")"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM outbox WHERE device = 's/h' AND subject LIKE '%two trackers far apart%' AND message LIKE '%s/w%'")" -ge 1 ] ||
    fail "A: no mail: $(sqlite3 "$DB" 'SELECT device, subject FROM outbox')"

# ---- B. lost: the second tracker attached while lienwatchd runs
LW vehicle attach LOSTVIN0000000001 l/h --role hidden >/dev/null
wait_for $((10 * SLOW)) grep -q "registry" "$T/d.log" || true
sleep 2
now=$(date +%s)
fix l/w 0 "$now"
fix l/h 0 "$now"
wait_for $((10 * SLOW)) n_fixes l/h 1 || fail "B: fixes not stored"
# the wired one keeps reporting, from where they were: nothing yet
sleep 12
fix l/w 50 $((now + 12))
sleep 10
# past half of 40 s for l/h; l/w drives off 1 km
fix l/w 1000 $(($(date +%s)))
wait_for $((10 * SLOW)) has_count 1 tracker_lost l/h ||
    fail "B: no tracker_lost: $(LW alerts --json) $(grep -i 'alert\|registry' "$T/d.log" | tail -5)"
fix l/w 2000 $(($(date +%s) + 1))
sleep 2
[ "$(count tracker_lost)" = 1 ] || fail "B: tracker_lost raised $(count tracker_lost) times"
# the quiet one's one old fix made no pairs in a row with the other's
[ "$(count tracker_separation l/w)$(count tracker_separation l/h)" = 00 ] ||
    fail "B: a quiet tracker's last fix raised tracker_separation"
LW alerts --json | $PY -c '
import json, sys
a = [x for x in json.load(sys.stdin) if x["kind"] == "tracker_lost"][0]
assert a["device"] == "l/h" and a["other"]["device"] == "l/w", a
assert abs(a["fix"]["lat"] - 41.15) < 1e-6, a
assert a["other"]["distance_m"] > 900, a
' || fail "B: the alert lacks both positions: $(LW alerts --json)"
# the near and the unwatched vehicles raised nothing of the kind
[ "$(count tracker_separation n/w)$(count tracker_separation n/h)" = 00 ] || fail "A: 100 m apart raised"
[ "$(count tracker_separation u/w)$(count tracker_separation u/h)" = 00 ] || fail "A: an unwatched vehicle raised"
stop_checked "$DPID" lienwatchd

# ---- C. a restart remembers what was raised
start_daemon() {
    lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" \
        --set mqtt.client_id=lw-tracker-alerts --set ingest.max_speed_kmh=0 \
        --set alerts.parked_alert_after=0 --set mqtt.state_interval=0 \
        -v >"$T/d2.log" 2>&1 &
    DPID=$!
    lw_track "$DPID"
    wait_for $((20 * SLOW)) grep -q "subscribed to lienwatch/v1/account/+ (QoS 1 granted)" "$T/d2.log" ||
        fail "C: daemon did not subscribe: $(tail -3 "$T/d2.log")"
}
start_daemon
t1=$(( $(date +%s) - 30 ))
fix s/h 1000 "$t1"
fix s/w 0 $((t1 + 5))
fix s/h 1200 $((t1 + 10))
fix l/w 3000 $((t1 + 20))
wait_for $((10 * SLOW)) n_fixes s/h 7 || fail "C: fixes not stored"
sleep 1
[ "$(count tracker_separation)" = 1 ] || fail "C: separation raised again after a restart"
[ "$(count tracker_lost)" = 1 ] || fail "C: tracker_lost raised again after a restart"
stop_checked "$DPID" lienwatchd
say "OK"
