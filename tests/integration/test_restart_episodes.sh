#!/bin/bash
# parked_long and the night baseline across daemon restarts, with a real
# mosquitto and lienwatchd ([places] timezone = UTC):
#   A. a watched car parked (fixes every 12 h within 200 m) for six days
#      before a restart raises parked_long at seven days of its stay, not
#      seven days after the restart; a restart after it was raised does not
#      raise it again for the same stay;
#   B. a car with eight nights at home as its baseline, watched, drives
#      30 km away in the evening; the daemon restarts before 03:00; the
#      first fix after 03:00 raises new_overnight_place (a restart does not
#      turn that night into baseline); a restart later in that stay does
#      not raise it again.
source "$(dirname "$0")/../lib.sh"
lw_setup
PORT=$(free_port)
start_mosquitto "$PORT"
DB="$T/lw.db"
LW() { "$BIN/lienwatch" --db "$DB" --as restart-test "$@"; }
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
for i, t in enumerate(range(t0, t1 + 1, step)):
    jitter = (i % 3) * 0.00005  # a few metres
    print(json.dumps({"_type": "location", "lat": 41.15 + km / 111.195 + jitter, "lon": -8.61, "tst": t, "acc": 15}))
PY
}
DPID=
start_daemon() {
    lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" --set mqtt.client_id=lw-restart \
        --set places.timezone=UTC --set alerts.offline_after=30d -v >>"$T/d.log" 2>&1 &
    DPID=$!
    lw_track "$DPID"
    wait_for $((20 * SLOW)) log_has_more "$T/d.log" "subscribed to lienwatch/v1/account/+ (QoS 1 granted)" "$1" ||
        fail "daemon did not subscribe: $(tail -3 "$T/d.log")"
}
restart_daemon() { # STARTS_SO_FAR
    stop_checked "$DPID" lienwatchd
    start_daemon "$1"
}

LW init-db >/dev/null
LW account set L1 --days-past-due 45 --status overdue >/dev/null
LW account set L2 --days-past-due 0 --status current >/dev/null
LW vehicle set r/parked --account L1 >/dev/null
LW vehicle set r/mover --account L2 >/dev/null
start_daemon 0

# ---- A: parked six days, restart, seven days
D=86400 H=3600
t0=$(( $(date +%s) - 8 * D ))
send r/parked "$t0" $((t0 + 6 * D)) 0 43200
wait_for $((20 * SLOW)) n_fixes r/parked 13 || fail "A: fixes not stored"
sleep 1
[ "$(count parked_long r/parked)" = 0 ] || fail "A: parked_long before seven days"
restart_daemon 1
send r/parked $((t0 + 6 * D + 43200)) $((t0 + 6 * D + 43200)) 0 43200
wait_for $((10 * SLOW)) n_fixes r/parked 14 || fail "A: fix not stored"
sleep 1
[ "$(count parked_long r/parked)" = 0 ] || fail "A: parked_long at six and a half days"
send r/parked $((t0 + 7 * D)) $((t0 + 7 * D)) 0 43200
wait_for $((10 * SLOW)) has_count 1 parked_long r/parked ||
    fail "A: no parked_long at seven days of the stay after a restart: $(LW alerts --json)"
restart_daemon 2
send r/parked $((t0 + 7 * D + 43200)) $((t0 + 8 * D)) 0 43200
wait_for $((10 * SLOW)) n_fixes r/parked 17 || fail "A: fixes not stored"
sleep 1
[ "$(count parked_long r/parked)" = 1 ] || fail "A: parked_long raised again after a restart"
say "A: parked_long at seven days across a restart, once"

# ---- B: the night baseline across a restart
day0=$(( ($(date +%s) / D - 11) * D ))
for d in $(seq 0 7); do
    b=$((day0 + d * D))
    send r/mover $((b + 7 * H + 1800)) $((b + 19 * H)) 2 1800     # days at work
    send r/mover $((b + 20 * H)) $((b + D + 7 * H)) 0 1800         # nights at home
done
wait_for $((30 * SLOW)) n_fixes r/mover 376 || fail "B: baseline not stored"
LW account set L2 --days-past-due 40 --status overdue >/dev/null
sleep 2
b=$((day0 + 8 * D))
send r/mover $((b + 7 * H + 1800)) $((b + 19 * H)) 2 600
send r/mover $((b + 20 * H)) $((b + D + 2 * H)) 30 600       # a new place, before 03:00
wait_for $((10 * SLOW)) n_fixes r/mover 480 || fail "B: fixes not stored"
sleep 1
[ "$(count new_overnight_place r/mover)" = 0 ] || fail "B: new_overnight_place before 03:00"
restart_daemon 3
send r/mover $((b + D + 3 * H + 600)) $((b + D + 5 * H)) 30 600   # past 03:00
wait_for $((10 * SLOW)) has_count 1 new_overnight_place r/mover ||
    fail "B: no new_overnight_place after a restart before 03:00: $(LW alerts --json)"
restart_daemon 4
send r/mover $((b + D + 5 * H + 600)) $((b + D + 7 * H)) 30 600
wait_for $((10 * SLOW)) n_fixes r/mover 500 || fail "B: fixes not stored"
sleep 2
[ "$(count new_overnight_place r/mover)" = 1 ] || fail "B: new_overnight_place raised again after a restart"
[ "$(count long_move r/mover)" = 0 ] || fail "B: long_move for 30 km"
stop_checked "$DPID" lienwatchd
say "ok"
