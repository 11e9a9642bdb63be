#!/bin/bash
# tools/demo.sh BUILD - the lienwatch demo (`make demo`).
#
# Everything on this machine, nothing left behind: a private mosquitto on a
# free loopback port, lienwatchd on a fresh database in a temporary
# directory, and the story lienwatch exists for:
#   - operations register five financed vehicles (plate, VIN, description)
#     on their loan accounts and a keep-in geofence around Porto; loan
#     servicing marks one account (two vehicles) overdue;
#   - four simulated cars drive around Porto for about 15 seconds (lw-sim;
#     about 19 minutes of simulated time that end an hour ago), while the
#     fifth, a van parked at the borrower's address, reports every second
#     and then goes silent (its tracker allowance is 5 s for the demo);
#   - the overdue account's car is taken across the border into Spain (two
#     fixes sent with mosquitto_pub);
#   - lienwatchd raises offline and geofence_exit: we show them as a
#     subscriber of lienwatch/v1/alert/# receives them and as a field agent
#     sees them with the lienwatch CLI, plus a few broken payloads that are
#     counted and dropped.
# Every process is stopped by PID on exit (trap). Needs no shared test data.
# KEEP=1 keeps the directory.
set -eu
BUILD=${1:-build}
export BUILD
source "$(dirname "$0")/../tests/lib.sh"

CARS=4           # driven by lw-sim: sim/car00001..car00004
RATE=10          # messages per second, all cars together
MESSAGES=150     # 15 s at RATE
STEP_S=30        # simulated seconds between two reports of a car
BAD=4            # broken payloads sent after the drive
SEED=20          # a seed where most cars are on the road
PREFIX=owntracks/sim
VAN=sim/car00005 # the parked van whose tracker goes silent
VAN_REPORTS=6    # its reports, one a second, before it goes silent
TAKEN=sim/car00002
# the keep-in fence: 50 km around Porto (the simulated homes are within
# 15 km of 41.15,-8.61 and 15 minutes of driving stay well inside)
FENCE_NAME="Porto district"
FENCE_LAT=41.15
FENCE_LON=-8.61
FENCE_M=50000

for b in lienwatchd lienwatch lw-sim; do
    [ -x "$BIN/$b" ] || fail "missing $BIN/$b: build first (make)"
done
for b in mosquitto mosquitto_pub mosquitto_sub; do
    command -v "$b" >/dev/null || fail "$b is not installed (make deps)"
done

step() { printf '\n==> %s\n' "$*"; }
# shell_words ARGS: ARGS as one would type them (quoted where needed)
shell_words() {
    local a out=""
    for a in "$@"; do
        case $a in
        '' | *[!A-Za-z0-9_./:=,@%+-]*) out+=" '${a//\'/\'\\\'\'}'" ;;
        *) out+=" $a" ;;
        esac
    done
    printf '%s' "${out# }"
}
# lw ARGS: runs and shows the lienwatch command an agent would type
lw() {
    printf '\n$ lienwatch %s\n' "$(shell_words "$@")"
    "$BIN/lienwatch" --db "$DB" --as demo "$@"
}
# lwq ARGS: the same, without the echo of the command
lwq() { "$BIN/lienwatch" --db "$DB" --as demo "$@"; }
# counter NAME: a top-level counter from 'lienwatch stats --json'
counter() {
    "$BIN/lienwatch" --db "$DB" stats --json 2>/dev/null |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$1" \
        2>/dev/null || echo 0
}
# owntracks LAT LON TST VEL_KMH TRIGGER: one OwnTracks location payload
owntracks() {
    printf '{"_type":"location","lat":%s,"lon":%s,"tst":%s,"acc":8,"vel":%s,"batt":87,"tid":"lw","t":"%s"}' \
        "$1" "$2" "$3" "$4" "$5"
}
# alert_seen KIND DEVICE: the subscriber got that alert
alert_seen() {
    "$PY" - "$T/alerts.mqtt" "$1" "$2" <<'EOF'
import json, sys
path, kind, dev = sys.argv[1:]
for line in open(path, encoding="utf-8"):
    topic, _, payload = line.partition(" ")
    try:
        o = json.loads(payload)
    except ValueError:
        continue
    if o.get("kind") == kind and o.get("device") == dev:
        sys.exit(0)
sys.exit(1)
EOF
}

lw_setup
DB="$T/lienwatch.db"
PORT=$(free_port)

step "1/7 Starting a private MQTT broker (mosquitto) on 127.0.0.1:$PORT"
start_mosquitto "$PORT"
echo "    persistent sessions on, queues sized so that nothing is dropped"

step "2/7 Starting lienwatchd on a fresh database"
# Its persistent session (client id lienwatchd, clean session off, QoS 1)
# is registered first, as it exists in a deployment: from then on the
# broker keeps every report for it, even one sent before the daemon's own
# subscription is confirmed.
mosquitto_sub -p "$PORT" -i lienwatchd -c -q 1 -t 'owntracks/+/+' -E ||
    fail "could not register the daemon's MQTT session"
echo "    lienwatchd --db $DB --mqtt-port $PORT"
"$BIN/lienwatchd" --db "$DB" --mqtt-host 127.0.0.1 --mqtt-port "$PORT" \
    >"$T/lienwatchd.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for 20 grep -q "subscribed to owntracks" "$T/lienwatchd.log" ||
    fail "lienwatchd did not start: $(tail -5 "$T/lienwatchd.log")"
echo "    running as PID $DPID, subscribed to owntracks/+/+ with QoS 1"

step "3/7 Operations register the financed vehicles, their loan accounts and a geofence"
cat >"$T/accounts.csv" <<'CSV'
account,days_past_due,status
ACC-1001,0,current
ACC-1002,0,current
ACC-1003,0,current
ACC-1004,0,current
CSV
echo "    accounts.csv from loan servicing:"
sed 's/^/      /' "$T/accounts.csv"
lw account import "$T/accounts.csv"
# vehicle DEVICE ACCOUNT PLATE VIN DESCRIPTION [more options]
vehicle() {
    local dev=$1 acct=$2 plate=$3 vin=$4 desc=$5
    shift 5
    lwq vehicle set "$dev" --account "$acct" --plate "$plate" --vin "$vin" \
        --description "$desc" "$@"
}
printf '\n$ lienwatch vehicle set sim/car00001 --account ACC-1001 --plate AA-12-BC --vin WVWZZZ1KZ6W000101 --description %s   (and 3 more cars)\n' "'grey Volkswagen Golf'"
vehicle sim/car00001 ACC-1001 AA-12-BC WVWZZZ1KZ6W000101 'grey Volkswagen Golf'
vehicle sim/car00002 ACC-1002 51-XP-27 VF15RJL0H52000202 'silver Renault Clio'
vehicle sim/car00003 ACC-1003 88-TQ-04 VSSZZZ6JZ8R000303 'blue Seat Ibiza'
vehicle sim/car00004 ACC-1004 AZ-09-QL VF3CCHMZ6KT000404 'black Peugeot 208'
echo
echo "    and a van whose tracker may stay silent 5 s (6 h by default; 5 s for the demo):"
lw vehicle set "$VAN" --account ACC-1002 --plate BE-77-HN --vin VF7GJ9HXCHJ000505 \
    --description 'white Citroën Berlingo van' --offline-after 5s
lw vehicle list
lw geofence add-circle "$FENCE_NAME" "$FENCE_LAT" "$FENCE_LON" "$FENCE_M" --kind keep_in
echo "    (a keep_in fence for every vehicle: leaving it raises geofence_exit)"
echo
echo "    Loan servicing: ACC-1002, the borrower of the Clio and the van, is 45 days"
echo "    past due. Its two vehicles are now watched: alerts are raised for them only."
lw account set ACC-1002 --days-past-due 45 --status overdue

step "4/7 The cars report their positions for $((MESSAGES / RATE)) s; the van's tracker goes silent"
echo "    A dashboard subscribes to the alerts:"
echo "    \$ mosquitto_sub -v -q 1 -t 'lienwatch/v1/alert/#'"
mosquitto_sub -p "$PORT" -v -q 1 -t 'lienwatch/v1/alert/#' >"$T/alerts.mqtt" 2>&1 &
SUB_PID=$!
lw_track "$SUB_PID"
# the van, parked at the borrower's address, reports once a second with
# mosquitto_pub (QoS 1), then its tracker is unplugged
van_reports() {
    local t0 i
    t0=$(date +%s)
    for i in $(seq 0 $((VAN_REPORTS - 1))); do
        mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$VAN" \
            -m "$(owntracks 41.16214 -8.62190 $((t0 + i)) 0 p)" || true
        sleep 1
    done
}
van_reports &
VAN_PID=$!
lw_track "$VAN_PID"
echo "    the van ($VAN) is parked at the borrower's address: a report every second for"
echo "    ${VAN_REPORTS} s, then silence; lienwatchd raises 'offline' 5 s after its last message"
# the drive: MESSAGES / CARS reports a car, STEP_S simulated seconds apart,
# the last one an hour ago
PER_CAR=$(((MESSAGES + CARS - 1) / CARS))
SIM_MIN=$((PER_CAR * STEP_S / 60))
START=$(($(date +%s) - 3600 - SIM_MIN * 60))
echo "    lw-sim: $CARS cars on $PREFIX/car00001..car0000$CARS, $RATE reports/s, each"
echo "    driving between home and destinations at 30-110 km/h or parked; a report every"
echo "    $STEP_S s of simulated time: $SIM_MIN minutes of driving that ended an hour ago"
"$BIN/lw-sim" --port "$PORT" --topic-prefix "$PREFIX" -n "$CARS" \
    -c "$MESSAGES" --rate "$RATE" --step "$STEP_S" --seed "$SEED" --start "$START" \
    >/dev/null 2>"$T/sim.err" || fail "lw-sim failed: $(cat "$T/sim.err")"
sed 's/^/    /' "$T/sim.err"
wait "$VAN_PID" || true
lw_untrack "$VAN_PID"
echo "    ... and a tracker with broken firmware sends $BAD bad payloads:"
"$BIN/lw-sim" --port "$PORT" --topic-prefix "$PREFIX" -n "$CARS" \
    -c "$BAD" --rate 0 --bad-ratio 1 --seed "$SEED" >/dev/null 2>"$T/bad.err" ||
    fail "lw-sim failed: $(cat "$T/bad.err")"
sed -n 's/^lw-sim: sent/    sent/p' "$T/bad.err"

step "5/7 The Clio ($TAKEN, account ACC-1002) is taken across the border into Spain"
NOW=$(date +%s)
BORDER=$(owntracks 42.04712 -8.64420 $((NOW - 600)) 92 t) # Tui, past the Minho bridge
VIGO=$(owntracks 42.23105 -8.71245 $((NOW - 120)) 64 t)   # Vigo
echo "    its tracker reports from Tui, just past the Minho bridge, 10 minutes ago:"
printf "    \$ mosquitto_pub -q 1 -t owntracks/%s -m '%s'\n" "$TAKEN" "$BORDER"
mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$TAKEN" -m "$BORDER"
echo "    and from Vigo, 2 minutes ago:"
printf "    \$ mosquitto_pub -q 1 -t owntracks/%s -m '%s'\n" "$TAKEN" "$VIGO"
mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$TAKEN" -m "$VIGO"
echo "    (two fixes: a crossing counts once confirm_fixes = 2 consecutive fixes are"
echo "    outside, each farther than 50 m from the line; GPS jitter raises nothing)"
wait_for 10 alert_seen geofence_exit "$TAKEN" ||
    fail "no geofence_exit alert for $TAKEN: $(grep -i alert "$T/lienwatchd.log" | tail -3)"
wait_for 15 alert_seen offline "$VAN" ||
    fail "no offline alert for $VAN: $(grep -i alert "$T/lienwatchd.log" | tail -3)"
# the daemon commits within 50 ms; the counters are current within a second
WANT=$((MESSAGES + BAD + VAN_REPORTS + 2))
received_all() { [ "$(counter received)" -ge "$WANT" ]; }
wait_for 10 received_all ||
    fail "lienwatchd received only $(counter received) of $WANT messages"
echo
echo "    lienwatchd logged:"
grep "ALERT" "$T/lienwatchd.log" | sed 's/^/    /'

step "6/7 What the dashboard received and what a field agent sees (--db $DB)"
echo "    The subscriber got one message per alert on lienwatch/v1/alert/<device> (QoS 1):"
"$PY" - "$T/alerts.mqtt" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    topic, _, payload = line.rstrip("\n").partition(" ")
    try:
        o = json.loads(payload)
    except ValueError:
        print("    " + line.rstrip())
        continue
    print("\n    %s" % topic)
    if o.get("kind") == "geofence_exit":
        for l in json.dumps(o, indent=2, ensure_ascii=False).splitlines():
            print("    " + l)
    else:
        print("    " + json.dumps(o, ensure_ascii=False))
EOF
lw alerts
EXIT_ID=$(lwq alerts --json --reason demo 2>/dev/null | "$PY" -c '
import json, sys
print(next(a["id"] for a in json.load(sys.stdin) if a["kind"] == "geofence_exit"))')
lw alerts ack "$EXIT_ID" --by agent7 --note 'on my way to Vigo'
lw alerts --open
lw locate "$TAKEN" --reason "alert $EXIT_ID"
printf '\n$ lienwatch history %s --format csv --reason "alert %s"   (header and last 4 fixes)\n' "$TAKEN" "$EXIT_ID"
lwq history "$TAKEN" --format csv --reason "alert $EXIT_ID" >"$T/history.csv"
head -n 1 "$T/history.csv"
tail -n 4 "$T/history.csv"
lw devices
lw stats
echo
echo "    lienwatchd logged the rejections (rate-limited):"
grep "rejected message" "$T/lienwatchd.log" | sed 's/^/    /' | head -n "$BAD"

step "The web page for field agents (lienwatch-web)"
if [ -x "$BIN/lienwatch-web" ]; then
    WEB_PORT=$(free_port)
    WEB_PW=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(12))')
    printf '%s\n' "$WEB_PW" > "$T/agent7.pw"
    lw user add agent7 --role agent --password-file "$T/agent7.pw"
    lw case open "$TAKEN" --agent agent7 --expires 72h --reason "alert $EXIT_ID: taken across the border"
    "$BIN/lienwatch-web" --db "$DB" --listen "127.0.0.1:$WEB_PORT" \
        --set web.static_dir="$ROOT/web/static" >"$T/lienwatch-web.log" 2>&1 &
    WEB_PID=$!
    lw_track "$WEB_PID"
    wait_for 10 port_open "$WEB_PORT" ||
        fail "lienwatch-web did not start: $(tail -3 "$T/lienwatch-web.log")"
    echo
    echo "    Open http://127.0.0.1:$WEB_PORT/ and sign in as the field agent:"
    echo "        user name: agent7"
    echo "        password:  $WEB_PW"
    echo "    (plain HTTP on loopback only; web.certfile/web.keyfile serve HTTPS)"
    if [ "${KEEP:-0}" = 1 ]; then
        echo
        echo "    KEEP=1: everything keeps running; press Ctrl-C to stop."
        wait "$WEB_PID" || true
    fi
fi

step "7/7 Stopping lienwatchd (SIGTERM: it commits what it has and exits 0), the subscriber and the broker"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
lw_untrack "$DPID"
echo "    lienwatchd exited with status $rc: $(grep -o 'stopped: .*' "$T/lienwatchd.log" | tail -1)"
[ "$rc" = 0 ] || fail "lienwatchd exited with $rc"
stop_pid "$SUB_PID"
stop_pid "$MOSQ_PID"
echo
if [ "${KEEP:-0}" = 1 ]; then
    echo "Demo done. The database is kept: $DB"
else
    echo "Demo done. Everything was stopped and the temporary files removed"
    echo "(KEEP=1 make demo keeps the database for a look around)."
fi
