#!/bin/bash
# tools/demo.sh BUILD - the lienwatch demo (`make demo`).
#
# Everything on this machine, nothing left behind: a private mosquitto on a
# free loopback port, lienwatchd on a fresh database in a temporary
# directory, five simulated cars driving around Porto for about 15 seconds
# (lw-sim; simulated time runs 60 times faster, ending now), a few broken
# payloads to show that they are counted and dropped, then what a field
# agent would see with the lienwatch CLI. Every process is stopped by PID
# on exit (trap). Needs no shared test data. KEEP=1 keeps the directory.
set -eu
BUILD=${1:-build}
export BUILD
source "$(dirname "$0")/../tests/lib.sh"

VEHICLES=5
RATE=10          # messages per second, all cars together
MESSAGES=150     # 15 s at RATE
STEP_S=30        # simulated seconds between two reports of a car
BAD=4            # broken payloads sent after the drive
SEED=20          # a seed where most cars are on the road
PREFIX=owntracks/sim

for b in lienwatchd lienwatch lw-sim; do
    [ -x "$BIN/$b" ] || fail "missing $BIN/$b: build first (make)"
done
command -v mosquitto >/dev/null || fail "mosquitto is not installed (make deps)"

step() { printf '\n==> %s\n' "$*"; }
# lw ARGS: runs and shows the lienwatch command an agent would type
lw() {
    printf '\n$ lienwatch %s\n' "$*"
    "$BIN/lienwatch" --db "$DB" --as demo "$@"
}
# counter NAME: a top-level counter from 'lienwatch stats --json'
counter() {
    "$BIN/lienwatch" --db "$DB" stats --json 2>/dev/null |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$1" \
        2>/dev/null || echo 0
}

lw_setup
DB="$T/lienwatch.db"
PORT=$(free_port)

step "1/5 Starting a private MQTT broker (mosquitto) on 127.0.0.1:$PORT"
start_mosquitto "$PORT"
echo "    persistent sessions on, queues sized so that nothing is dropped"

step "2/5 Starting lienwatchd on a fresh database"
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

step "3/5 $VEHICLES simulated cars report their positions for $((MESSAGES / RATE)) s"
echo "    lw-sim: OwnTracks JSON on $PREFIX/car00001..car0000$VEHICLES, $RATE reports/s;"
echo "    each car drives between home and destinations at 30-110 km/h or parks;"
echo "    a report every $STEP_S s of simulated time, the last one about now"
"$BIN/lw-sim" --port "$PORT" --topic-prefix "$PREFIX" -n "$VEHICLES" \
    -c "$MESSAGES" --rate "$RATE" --step "$STEP_S" --seed "$SEED" >/dev/null 2>"$T/sim.err" ||
    fail "lw-sim failed: $(cat "$T/sim.err")"
sed 's/^/    /' "$T/sim.err"
echo "    ... and a tracker with broken firmware sends $BAD bad payloads:"
"$BIN/lw-sim" --port "$PORT" --topic-prefix "$PREFIX" -n "$VEHICLES" \
    -c "$BAD" --rate 0 --bad-ratio 1 --seed "$SEED" >/dev/null 2>"$T/bad.err" ||
    fail "lw-sim failed: $(cat "$T/bad.err")"
sed -n 's/^lw-sim: sent/    sent/p' "$T/bad.err"
# the daemon commits within 50 ms; the counters are current within a second
received_all() { [ "$(counter received)" -ge $((MESSAGES + BAD)) ]; }
wait_for 10 received_all ||
    fail "lienwatchd received only $(counter received) of $((MESSAGES + BAD)) messages"

step "4/5 What a field agent sees (every command runs with --db $DB)"
lw devices
# the car that is moving fastest now makes the most interesting example
CAR=$("$BIN/lienwatch" --db "$DB" devices --json 2>/dev/null | "$PY" -c '
import json, subprocess, sys
best, speed = "sim/car00001", -1.0
for d in json.load(sys.stdin):
    dev = d.get("device") or d.get("id")
    out = subprocess.run([sys.argv[1], "--db", sys.argv[2], "--as", "demo",
                          "locate", dev, "--json"], capture_output=True, text=True)
    try:
        s = json.loads(out.stdout).get("speed_mps") or 0.0
    except ValueError:
        continue
    if s > speed:
        best, speed = dev, s
print(best)' "$BIN/lienwatch" "$DB" 2>/dev/null || echo sim/car00001)
lw locate "$CAR" --reason case-4711
printf '\n$ lienwatch history %s --format csv --reason case-4711   (header and last 5 fixes)\n' "$CAR"
"$BIN/lienwatch" --db "$DB" --as demo history "$CAR" --format csv \
    --reason case-4711 >"$T/history.csv"
head -n 1 "$T/history.csv"
tail -n 5 "$T/history.csv"
lw stats
echo
echo "    lienwatchd logged the rejections (rate-limited):"
grep "rejected message" "$T/lienwatchd.log" | sed 's/^/    /' | head -n "$BAD"

step "5/5 Stopping lienwatchd (SIGTERM: it commits what it has and exits 0) and the broker"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
lw_untrack "$DPID"
echo "    lienwatchd exited with status $rc: $(grep -o 'stopped: .*' "$T/lienwatchd.log" | tail -1)"
[ "$rc" = 0 ] || fail "lienwatchd exited with $rc"
stop_pid "$MOSQ_PID"
echo
if [ "${KEEP:-0}" = 1 ]; then
    echo "Demo done. The database is kept: $DB"
else
    echo "Demo done. Everything was stopped and the temporary files removed"
    echo "(KEEP=1 make demo keeps the database for a look around)."
fi
