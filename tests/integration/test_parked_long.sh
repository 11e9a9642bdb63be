#!/bin/bash
# parked_long end to end, with a real mosquitto and lienwatchd: a watched
# car whose tracker reports every 12 hours for 8 days from within 200 m of
# where it stopped raises one parked_long (with the stay's length, on MQTT
# and in `lienwatch alerts`) once its fixes span [alerts]
# parked_alert_after (7d); one that drives 2 km every day raises none; an
# unwatched one raises none.
source "$(dirname "$0")/../lib.sh"
lw_setup
PORT=$(free_port)
start_mosquitto "$PORT"
DB="$T/lw.db"
LW() { "$BIN/lienwatch" --db "$DB" --as parked-test "$@"; }
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
fix() { # DEVICE LAT LON TST
    mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$1" \
        -m "{\"_type\":\"location\",\"lat\":$2,\"lon\":$3,\"tst\":$4,\"acc\":15}" ||
        fail "cannot publish"
}
count() { # KIND DEVICE
    LW alerts --json | $PY -c 'import json,sys; k,d=sys.argv[1:3]; print(sum(1 for a in json.load(sys.stdin) if a["kind"]==k and a["device"]==d))' "$1" "$2"
}
has_count() { [ "$(count "$2" "$3")" = "$1" ]; }
n_fixes() { [ "$(sqlite3 "$DB" "SELECT count(*) FROM fixes WHERE device = '$1'")" = "$2" ]; }

LW init-db >/dev/null
LW account set L1 --days-past-due 45 --status overdue >/dev/null
LW account set L2 --days-past-due 0 --status current >/dev/null
for v in p/hidden p/driver; do LW vehicle set $v --account L1 >/dev/null; done
LW vehicle set p/paid --account L2 >/dev/null
mosquitto_sub -p "$PORT" -t 'lienwatch/v1/alert/#' -v >"$T/mqtt.log" 2>/dev/null &
lw_track $!
lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" \
    --set mqtt.client_id=lw-parked --set alerts.offline_after=30d -v >"$T/d.log" 2>&1 &
lw_track $!
wait_for $((20 * SLOW)) grep -q "subscribed to lienwatch/v1/account/+ (QoS 1 granted)" "$T/d.log" ||
    fail "daemon did not subscribe: $(tail -3 "$T/d.log")"

t0=$(( $(date +%s) - 8 * 86400 ))
for i in $(seq 0 16); do
    t=$((t0 + i * 43200))
    # a few metres of jitter around the stop; the driver moves 2.2 km
    fix p/hidden "41.1500$((i % 9))" -8.6100 "$t"
    fix p/paid "41.1500$((i % 9))" -8.6100 "$t"
    fix p/driver "41.1$((50 + (i % 2) * 20))" -8.6100 "$t"
done
wait_for $((20 * SLOW)) n_fixes p/driver 17 || fail "fixes not stored"
wait_for $((10 * SLOW)) has_count 1 parked_long p/hidden ||
    fail "no parked_long for p/hidden: $(LW alerts --json)"
sleep 1
[ "$(count parked_long p/hidden)" = 1 ] || fail "parked_long repeated"
[ "$(count parked_long p/driver)" = 0 ] || fail "parked_long for a car that drives"
[ "$(count parked_long p/paid)" = 0 ] || fail "parked_long for an unwatched car"
LW alerts --json | $PY -c '
import json, sys
a = [x for x in json.load(sys.stdin) if x["kind"] == "parked_long"][0]
assert a["device"] == "p/hidden" and abs(a["fix"]["lat"] - 41.15) < 0.001, a
' || fail "parked_long alert: $(LW alerts --json)"
wait_for $((5 * SLOW)) grep -q '^lienwatch/v1/alert/p/hidden .*"parked_long"' "$T/mqtt.log" ||
    fail "parked_long not on MQTT"
say "ok"
