#!/bin/bash
# new_overnight_place and long_move end to end, with a real mosquitto and
# lienwatchd ([places] timezone = UTC): a car spends eight nights at home
# (20:00 to 07:00) and its days 2 km away while its account is current: the
# baseline, no alert. Its account goes overdue; the next night it sleeps
# 30 km away: one new_overnight_place, raised by the first fix after 03:00,
# carrying the distance from home; later fixes of that stay raise nothing
# more. The next day it is 150 km away: one long_move, not repeated while
# it stays away. A second car with the same history that stays at home
# raises neither.
source "$(dirname "$0")/../lib.sh"
lw_setup
PORT=$(free_port)
start_mosquitto "$PORT"
DB="$T/lw.db"
LW() { "$BIN/lienwatch" --db "$DB" --as place-test "$@"; }
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
count() { # KIND DEVICE
    LW alerts --json | $PY -c 'import json,sys; k,d=sys.argv[1:3]; print(sum(1 for a in json.load(sys.stdin) if a["kind"]==k and a["device"]==d))' "$1" "$2"
}
has_count() { [ "$(count "$2" "$3")" = "$1" ]; }
n_fixes() { [ "$(sqlite3 "$DB" "SELECT count(*) FROM fixes WHERE device = '$1'")" -ge "$2" ]; }
# send DEVICE FROM_S TO_S NORTH_KM STEP_S: OwnTracks fixes of DEVICE from
# FROM_S to TO_S (epoch seconds) every STEP_S, NORTH_KM north of home
send() {
    $PY - "$@" <<'PY' | mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$1" -l || fail "publish"
import json, sys
dev, t0, t1, km, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
for t in range(t0, t1 + 1, step):
    print(json.dumps({"_type": "location", "lat": 41.15 + km / 111.195, "lon": -8.61, "tst": t, "acc": 15}))
PY
}

LW init-db >/dev/null
LW account set L1 --days-past-due 0 --status current >/dev/null
LW vehicle set p/mover --account L1 >/dev/null
LW vehicle set p/stayer --account L1 >/dev/null
lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" --set mqtt.client_id=lw-places \
    --set places.timezone=UTC --set alerts.offline_after=30d -v >"$T/d.log" 2>&1 &
lw_track $!
wait_for $((20 * SLOW)) grep -q "subscribed to lienwatch/v1/account/+ (QoS 1 granted)" "$T/d.log" ||
    fail "daemon did not subscribe: $(tail -3 "$T/d.log")"

# day 0 is eleven days ago, at 00:00 UTC
D=86400 H=3600
day0=$(( ($(date +%s) / D - 11) * D ))
for dev in p/mover p/stayer; do
    for d in $(seq 0 7); do
        b=$((day0 + d * D))
        send "$dev" $((b + 7 * H + 1800)) $((b + 19 * H)) 2 1800     # days at work
        send "$dev" $((b + 20 * H)) $((b + D + 7 * H)) 0 1800         # nights at home
    done
done
wait_for $((30 * SLOW)) n_fixes p/stayer 376 || fail "baseline not stored"
sleep 1
[ "$(LW alerts --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] ||
    fail "alerts before watching: $(LW alerts --json)"

# the account goes overdue: watched from now on
LW account set L1 --days-past-due 40 --status overdue >/dev/null
sleep 2
b=$((day0 + 8 * D))
send p/stayer $((b + 7 * H + 1800)) $((b + 19 * H)) 2 600
send p/stayer $((b + 20 * H)) $((b + D + 4 * H)) 0 600
send p/mover $((b + 7 * H + 1800)) $((b + 19 * H)) 2 600
send p/mover $((b + 20 * H)) $((b + D + 2 * H)) 30 600       # a new place, before 03:00
wait_for $((10 * SLOW)) n_fixes p/mover 480 || fail "fixes not stored"
sleep 1
[ "$(count new_overnight_place p/mover)" = 0 ] || fail "new_overnight_place before 03:00"
send p/mover $((b + D + 2 * H + 600)) $((b + D + 5 * H)) 30 600   # past 03:00
wait_for $((10 * SLOW)) has_count 1 new_overnight_place p/mover ||
    fail "no new_overnight_place: $(LW alerts --json)"
LW alerts --json | $PY -c '
import json, sys
a = [x for x in json.load(sys.stdin) if x["kind"] == "new_overnight_place"][0]
assert abs(a["fix"]["lat"] - (41.15 + 30 / 111.195)) < 1e-4, a
' || fail "new_overnight_place alert: $(LW alerts --json)"
# the next day, 150 km away
send p/mover $((b + D + 9 * H)) $((b + D + 12 * H)) 150 600
wait_for $((10 * SLOW)) has_count 1 long_move p/mover || fail "no long_move: $(LW alerts --json)"
send p/mover $((b + D + 12 * H + 600)) $((b + D + 14 * H)) 150.2 600
sleep 2
[ "$(count long_move p/mover)" = 1 ] || fail "long_move repeated on one trip"
[ "$(count new_overnight_place p/mover)" = 1 ] || fail "new_overnight_place repeated"
for k in new_overnight_place long_move; do
    [ "$(count $k p/stayer)" = 0 ] || fail "$k for the car that stayed home"
done
say "ok"
