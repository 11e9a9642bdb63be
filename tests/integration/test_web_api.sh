#!/bin/bash
# test_web_api.sh - lienwatch-web's JSON API with real processes: mosquitto,
# lienwatchd and lienwatch-web on loopback ports picked here, users, tokens
# and cases made with the lienwatch command as an operator would.
#
# web_api.py checks each access rule (an agent's own open case only, 404
# otherwise; ops and watched vehicles, 403 without a reason for an
# unwatched one, the reason recorded; admin sees no locations), the audit
# record of every look, sessions (cookie attributes, logout, idle expiry),
# CSRF, login throttling, bearer tokens, locate now through lienwatchd to
# the broker and back, live updates (SSE) and their end when access ends,
# case expiry and a paid-up account ending access, and bad input.
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
W="$BIN/lienwatch-web"
[ -x "$W" ] || fail "$W not built"
$PY -c 'import paho.mqtt.client' 2>/dev/null || skip "python3-paho-mqtt not installed"
command -v mosquitto >/dev/null || skip "mosquitto not installed"
lw_setup
DB="$T/lw.db"
MQ=$(free_port)
HP=$(free_port)
HP2=$(free_port)

start_mosquitto "$MQ"
"$L" init-db --db "$DB" >/dev/null

# the daemon: owntracks/+/+ fixes, commands published to devices
# the fixes made up here move hundreds of metres within seconds, which the
# jump check (ingest.max_speed_kmh) would hold back as spoofed: it is off
# here; test_gps_jump.sh tests it.
lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$MQ" \
    --set store.commit_interval_ms=20 --set mqtt.client_id=lw-webtest \
    --set ingest.max_speed_kmh=0 --set alerts.parked_alert_after=0 \
    >"$T/daemon.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for 10 grep -q "started" "$T/daemon.log" || fail "lienwatchd did not start: $(cat "$T/daemon.log")"

# people, as an operator adds them (passwords from files, never argv)
pw() { printf '%s\n' "$2" > "$T/pw-$1"; "$L" --db "$DB" user add "$1" --role "$3" --password-file "$T/pw-$1" >/dev/null || fail "user add $1"; }
pw alice 'alice-secret-1' agent
pw bob 'bob-secret-22' agent
pw olga 'olga-secret-333' ops
pw adam 'adam-secret-4444' admin
pw tess 'tess-secret-55555' agent

# vehicles: car1 (alice's case, watched), car2 (watched, no case of hers),
# car3 (an account that pays: not watched), car4 (tess: expiring case)
"$L" --db "$DB" account set A-1 --days-past-due 40 >/dev/null
"$L" --db "$DB" account set A-2 --days-past-due 12 >/dev/null
"$L" --db "$DB" account set A-3 --days-past-due 0 >/dev/null
"$L" --db "$DB" account set A-4 --days-past-due 30 >/dev/null
"$L" --db "$DB" vehicle set fleet/car1 --plate 'KA-111' --account A-1 \
    --description '<img src=x onerror=alert(1)>' >/dev/null
"$L" --db "$DB" vehicle set fleet/car2 --plate 'KA-222' --account A-2 --description 'grey van' >/dev/null
"$L" --db "$DB" vehicle set fleet/car3 --plate 'KA-333' --account A-3 --description 'red hatchback' >/dev/null
"$L" --db "$DB" vehicle set fleet/car4 --plate 'KA-444' --account A-4 --description 'white pickup' >/dev/null
# car6: watched, and its tracker goes silent: an offline alert for ops
"$L" --db "$DB" vehicle set fleet/car6 --plate 'KA-666' --account A-1 --offline-after 3s >/dev/null

# first fixes, through the broker and the daemon
$PY - "$MQ" <<'PYEOF' || fail "publishing first fixes"
import json, sys, time
import paho.mqtt.publish as publish
now = int(time.time())
msgs = []
for i, (dev, lat, lon) in enumerate([("car1", 52.5200, 13.4050), ("car2", 52.5300, 13.4100),
                                     ("car3", 52.5000, 13.3000), ("car4", 52.6000, 13.5000),
                                     ("car6", 52.4000, 13.2000)]):
    msgs.append({"topic": "owntracks/fleet/" + dev, "qos": 1,
                 "payload": json.dumps({"_type": "location", "lat": lat, "lon": lon,
                                        "tst": now - 60, "acc": 12, "vel": 0})})
publish.multiple(msgs, hostname="127.0.0.1", port=int(sys.argv[1]))
PYEOF
wait_for 10 sh -c "[ \$(sqlite3 '$DB' 'SELECT count(*) FROM devices') -ge 5 ]" ||
    fail "fixes not stored: $(cat "$T/daemon.log")"

CASE1=$("$L" --db "$DB" case open fleet/car1 --agent alice --expires 72h --reason 'repossession order 1') ||
    fail "case open"
CASE4=$("$L" --db "$DB" case open fleet/car4 --agent tess --expires 72h --reason 'order 4') ||
    fail "case open 4"
TOKEN=$("$L" --db "$DB" token create dash --role ops | grep -o 'lwt_[A-Za-z0-9_-]*' | head -1)
[ -n "$TOKEN" ] || fail "token create printed no token"

start_web() { # PORT LOG EXTRA...
    local port=$1 log=$2
    shift 2
    lw_wrap "$W" --db "$DB" --listen "127.0.0.1:$port" \
        --set web.static_dir="$ROOT/web/static" "$@" >"$log" 2>&1 &
    lw_track $!
    wait_for 10 port_open "$port" || fail "lienwatch-web did not start: $(cat "$log")"
}
start_web "$HP" "$T/web.log"
WPID=$(echo "$LW_PIDS" | awk '{print $NF}')
# a second service with very short sessions, for expiry
start_web "$HP2" "$T/web2.log" --set web.session_idle=2s --set web.session_max=4s

WEB="http://127.0.0.1:$HP" WEB2="http://127.0.0.1:$HP2" MQ="$MQ" DB="$DB" WPID="$WPID" \
    LW="$L" CASE1="$CASE1" CASE4="$CASE4" TOKEN="$TOKEN" T="$T" \
    $PY "$ROOT/tests/integration/web_api.py" || {
    say "web log:"; tail -30 "$T/web.log" >&2
    say "daemon log:"; tail -30 "$T/daemon.log" >&2
    fail "API checks"
}
stop_checked "$WPID" lienwatch-web
say "ok"
