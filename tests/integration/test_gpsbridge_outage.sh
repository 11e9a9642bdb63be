#!/bin/bash
# test_gpsbridge_outage: lw-gpsbridge's store and forward, with real gpsd
# (gpsfake replaying the real Swiss car drive), a real mosquitto with
# persistence, and a persistent QoS 1 mosquitto_sub whose ARRIVAL ORDER is
# what is checked (not a database sorted by fix time).
#
#   B. the broker is stopped for part of a replay and started again: every
#      fix the bridge took arrives, in the order taken (duplicates of fixes
#      whose PUBACK was lost in the outage are allowed and counted; the
#      order of first arrivals must be exact);
#   C. the broker is down, the bridge is killed with SIGKILL holding fixes in
#      its spool, the broker comes back and the bridge is started again on
#      the same spool while gpsd keeps reporting: the spooled fixes arrive
#      first, in the order they were taken, then the new ones behind them;
#   D. a bounded spool (--spool-max) with the broker down: the oldest fixes
#      are dropped, counted (in the spool and in the log), the newest kept
#      and delivered in order later; the bridge started before gpsd is up
#      connects when it comes, and again when gpsd is restarted; a receiver
#      without a fix is logged; SIGTERM exits 0. The bridge runs under
#      valgrind here when it is installed (not for an ASan build).
source "$(dirname "$0")/../lib.sh"
need_data
lw_setup

for p in gpsfake gpspipe mosquitto mosquitto_sub sqlite3; do
    command -v "$p" >/dev/null || skip "$p not installed"
done
SWISS=$LW_DATA_DIR/nmea/genivi/20100403_Z205_Switzerland.txt
HAICOM=$LW_DATA_DIR/nmea/gpsd/haicom-305N.log
[ -f "$SWISS" ] && [ -f "$HAICOM" ] || skip "NMEA logs missing under $LW_DATA_DIR/nmea"
GB=$BIN/lw-gpsbridge
[ -x "$GB" ] || fail "$GB not built"
export WRITE_PAD=0
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=4

MPORT=$(free_port)
start_mosquitto "$MPORT"

# make_log SRC FIRST LAST DST PAD_LINES: lines FIRST..LAST of SRC after
# PAD_LINES $GPTXT sentences that make gpsd report nothing.
make_log() {
    $PY - "$@" <<'EOF'
import sys
src, first, last, dst, npad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
body = "GPTXT,01,01,02,lienwatch test padding"
cs = 0
for ch in body:
    cs ^= ord(ch)
pad = ("$%s*%02X\r\n" % (body, cs)).encode()
lines = open(src, "rb").read().splitlines(keepends=True)[first - 1:last]
with open(dst, "wb") as out:
    out.write(pad * npad)
    out.writelines(lines)
EOF
}

# start_gpsfake LOG CYCLE: sets GF_PID, GPORT; tracks gpsfake and its gpsd.
start_gpsfake() {
    local gpsd_pid
    GPORT=${GPORT_FORCE:-$(free_port)}
    TMPDIR="$T" gpsfake -n -1 -q -P "$GPORT" -c "$2" -W 1 "$1" > "$1.gpsfake" 2>&1 &
    GF_PID=$!
    lw_track "$GF_PID"
    wait_for 10 port_open "$GPORT" || fail "gpsfake's gpsd did not listen on $GPORT"
    gpsd_pid=$(pgrep -P "$GF_PID" -x gpsd || true)
    [ -n "$gpsd_pid" ] && lw_track "$gpsd_pid"
}

# start_bridge NAME DEVICE [ARGS...]: sets BR_PID; log in $T/NAME.log
start_bridge() {
    local name=$1 dev=$2
    shift 2
    "${WRAP[@]}" "$GB" --device "$dev" --gpsd "127.0.0.1:$GPORT" \
        --mqtt-host 127.0.0.1 --mqtt-port "$MPORT" --mqtt-keepalive 5 \
        --min-interval 0 --parked-interval 0 "$@" >> "$T/$name.log" 2>&1 &
    BR_PID=$!
    lw_track "$BR_PID"
}
WRAP=()

# start_sub NAME TOPIC: persistent QoS 1 subscriber; sets SUB_PID
start_sub() {
    mosquitto_sub -h 127.0.0.1 -p "$MPORT" -q 1 -c -i "gb-$1" -t "$2" \
        >> "$T/$1.sub" 2>> "$T/$1.sub.err" &
    SUB_PID=$!
    lw_track "$SUB_PID"
}

spool_count() { sqlite3 "$1" 'SELECT count(*) FROM spool' 2>/dev/null || echo -1; }
spool_empty() { [ "$(spool_count "$1")" = 0 ]; }
spool_nonempty() { [ "$(spool_count "$1")" -gt 0 ]; }
lines_at_least() { [ "$(wc -l < "$1" 2>/dev/null || echo 0)" -ge "$2" ]; }

# stop_bridge_ok PID NAME: SIGTERM, exit status must be 0.
stop_bridge_ok() {
    local rc=0
    kill -TERM "$1"
    wait "$1" || rc=$?
    lw_untrack "$1"
    [ "$rc" = 0 ] || fail "$2: bridge exited $rc on SIGTERM: $(tail -5 "$T/$2.log")"
}

# check.py MODE ...: the order checks, printed as one line each.
cat > "$T/check.py" <<'EOF'
import json, sys

def valid_from_pipe(path):
    """(time, lat, lon) of each valid gpsd fix, one per fix time."""
    out, prev = [], None
    for line in open(path, errors="replace"):
        if '"class":"TPV"' not in line:
            continue
        o = json.loads(line)
        if o.get("mode", 0) < 2 or "time" not in o or "lat" not in o or "lon" not in o:
            continue
        if o["time"] == prev:
            continue
        prev = o["time"]
        out.append((o["time"], round(o["lat"], 9), round(o["lon"], 9)))
    return out

def key(payload):
    o = json.loads(payload)
    return (o["time"], round(o["lat"], 9), round(o["lon"], 9))

def arrivals(path):
    """Arrival order; a repeat (PUBACK lost, sent again) is counted and
    dropped, keeping the first arrival."""
    seen, out, dups = set(), [], 0
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        k = key(line)
        if k in seen:
            dups += 1
            continue
        seen.add(k)
        out.append(k)
    return out, dups

mode = sys.argv[1]
if mode == "outage":           # pipe sub
    ref = valid_from_pipe(sys.argv[2])
    got, dups = arrivals(sys.argv[3])
    print("gpsd reported %d valid fixes; %d distinct arrived (+%d repeats)" % (len(ref), len(got), dups))
    if got != ref:
        lost = [x for x in ref if x not in set(got)]
        bad_order = next((i for i, (a, b) in enumerate(zip(got, ref)) if a != b), None)
        print("FAIL: %d lost (e.g. %s); first order difference at #%s" % (len(lost), lost[:2], bad_order))
        sys.exit(1)
    print("order kept: arrival order (first arrivals) == gpsd's order")
elif mode == "kill":            # pipe sub spooled.txt
    ref = valid_from_pipe(sys.argv[2])
    got, dups = arrivals(sys.argv[3])
    spooled = [key(l) for l in open(sys.argv[4]) if l.strip()]
    a = len(spooled)
    print("spool held %d fixes at SIGKILL; %d distinct arrived (+%d repeats); gpsd reported %d" % (
        a, len(got), dups, len(ref)))
    if spooled != ref[:a]:
        print("FAIL: the spool did not hold the first %d fixes gpsd reported, in order" % a)
        sys.exit(1)
    if got[:a] != spooled:
        print("FAIL: the spooled fixes did not arrive first, in the order taken")
        sys.exit(1)
    rest = got[a:]
    if not rest:
        print("FAIL: nothing arrived after the spooled fixes")
        sys.exit(1)
    try:
        b = ref.index(rest[0])
    except ValueError:
        print("FAIL: %s arrived but gpsd never reported it" % (rest[0],))
        sys.exit(1)
    if rest != ref[b:]:
        print("FAIL: after the restart %d arrived, gpsd reported %d from %s" % (len(rest), len(ref) - b, rest[0][0]))
        sys.exit(1)
    print("order kept: %d spooled fixes first, in spool order, then %d new ones; "
          "%d reported by gpsd while no bridge ran" % (a, len(rest), b - a))
elif mode == "bounded":         # spooled.txt sub
    spooled = [key(l) for l in open(sys.argv[2]) if l.strip()]
    got, dups = arrivals(sys.argv[3])
    print("%d fixes kept in the bounded spool; %d arrived (+%d repeats)" % (len(spooled), len(got), dups))
    if got != spooled:
        print("FAIL: the kept fixes did not arrive exactly, in order")
        sys.exit(1)
EOF
CHECK="$PY $T/check.py"

# ---- B: broker stopped for part of a replay
make_log "$SWISS" 1 12000 "$T/b.nmea" 3000
start_sub b 'lienwatch/v1/fix/outage-b'
start_gpsfake "$T/b.nmea" 0.001
gpspipe -w "127.0.0.1:$GPORT" > "$T/b.pipe" 2>/dev/null &
PIPE_PID=$!
lw_track "$PIPE_PID"
start_bridge b outage-b --spool "$T/b.spool"
B_PID=$BR_PID
wait_for $((20 * SLOW)) lines_at_least "$T/b.sub" 300 || fail "B: nothing arrives: $(tail -3 "$T/b.log")"
stop_pid "$MOSQ_PID"
say "B: broker stopped after $(wc -l < "$T/b.sub") arrivals"
wait_for 10 grep -q "connection lost" "$T/b.log" || fail "B: the bridge did not notice the broker going"
wait_for 10 spool_nonempty "$T/b.spool" || fail "B: nothing spooled while the broker is down"
sleep 3
say "B: broker restarted with $(spool_count "$T/b.spool") fixes in the bridge's spool"
start_mosquitto "$MPORT"
wait "$GF_PID" 2>/dev/null || true
lw_untrack "$GF_PID"
wait "$PIPE_PID" 2>/dev/null || true
lw_untrack "$PIPE_PID"
wait_for $((60 * SLOW)) spool_empty "$T/b.spool" || fail "B: spool not drained: $(spool_count "$T/b.spool")"
want=$($PY -c '
import json,sys
n,prev=0,None
for l in open(sys.argv[1]):
    if "\"class\":\"TPV\"" not in l: continue
    o=json.loads(l)
    if o.get("mode",0)>=2 and "time" in o and "lat" in o and o["time"]!=prev: n+=1; prev=o["time"]
print(n)' "$T/b.pipe")
wait_for $((30 * SLOW)) lines_at_least "$T/b.sub" "$want" || fail "B: $(wc -l < "$T/b.sub") of $want arrived"
sleep 1
stop_bridge_ok "$B_PID" b
grep -q "mqtt .*: connected" "$T/b.log" || fail "B: no reconnection logged"
$CHECK outage "$T/b.pipe" "$T/b.sub" >&2 || fail "B: lost or reordered fixes"
say "B ok"

# ---- C: SIGKILL with a full spool, broker down meanwhile
make_log "$SWISS" 12001 24000 "$T/c.nmea" 3000
start_sub c 'lienwatch/v1/fix/outage-c'
sleep 0.5
stop_pid "$MOSQ_PID"
start_gpsfake "$T/c.nmea" 0.001
gpspipe -w "127.0.0.1:$GPORT" > "$T/c.pipe" 2>/dev/null &
PIPE_PID=$!
lw_track "$PIPE_PID"
start_bridge c outage-c --spool "$T/c.spool"
C_PID=$BR_PID
spool_at_least() { [ "$(spool_count "$T/c.spool")" -ge 400 ]; }
wait_for $((30 * SLOW)) spool_at_least || fail "C: spool did not fill: $(spool_count "$T/c.spool")"
kill -KILL "$C_PID"
wait "$C_PID" 2>/dev/null || true
lw_untrack "$C_PID"
sqlite3 "$T/c.spool" 'SELECT payload FROM spool ORDER BY id' > "$T/c.spooled"
say "C: bridge killed (SIGKILL) with $(wc -l < "$T/c.spooled") fixes in its spool"
start_mosquitto "$MPORT"
sleep 1
start_bridge c outage-c --spool "$T/c.spool"
C_PID=$BR_PID
wait "$GF_PID" 2>/dev/null || true
lw_untrack "$GF_PID"
wait "$PIPE_PID" 2>/dev/null || true
lw_untrack "$PIPE_PID"
wait_for $((60 * SLOW)) spool_empty "$T/c.spool" || fail "C: spool not drained: $(spool_count "$T/c.spool")"
sleep 1
stop_bridge_ok "$C_PID" c
grep -q "spool $T/c.spool ([1-9][0-9]* fixes waiting" "$T/c.log" || fail "C: restart did not report the waiting fixes"
$CHECK kill "$T/c.pipe" "$T/c.sub" "$T/c.spooled" >&2 || fail "C: spooled fixes lost or out of order"
say "C ok"

# ---- D: bounded spool, bridge before gpsd, broker down (under valgrind)
if command -v valgrind >/dev/null && ! nm "$GB" 2>/dev/null | grep -q __asan_init; then
    WRAP=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
        --errors-for-leak-kinds=definite,indirect)
    SLOW=4
    say "D: the bridge runs under valgrind"
fi
stop_pid "$MOSQ_PID"
GPORT=$(free_port)
# gpsd_timeout 2 s: the 3 s of padding are a receiver without a fix
start_bridge d outage-d --spool "$T/d.spool" --spool-max 25 --gpsd-timeout 2
D_PID=$BR_PID
wait_for $((10 * SLOW)) grep -q "gpsd .*: cannot connect" "$T/d.log" || fail "D: no gpsd failure logged"
# the padding (3 s) covers the bridge's first retries (1 s, then 2 s later)
make_log "$HAICOM" 1 100000 "$T/d.nmea" 300
GPORT_FORCE=$GPORT start_gpsfake "$T/d.nmea" 0.01
wait "$GF_PID" 2>/dev/null || true
lw_untrack "$GF_PID"
wait_for $((10 * SLOW)) grep -q "connection closed by gpsd" "$T/d.log" || fail "D: gpsd's end not logged"
# gpsd comes back on the same port: the bridge reconnects and carries on
GPORT_FORCE=$GPORT start_gpsfake "$T/d.nmea" 0.01
wait "$GF_PID" 2>/dev/null || true
lw_untrack "$GF_PID"
closed_twice() { [ "$(grep -c "connection closed by gpsd" "$T/d.log")" -ge 2 ]; }
wait_for $((10 * SLOW)) closed_twice || fail "D: the second gpsd's end not logged"
stop_bridge_ok "$D_PID" d
grep -q "gpsd .*: connected after [0-9]* failed attempt" "$T/d.log" || fail "D: late gpsd not connected"
grep -q "gpsd .*: connected again after [0-9]* failed attempt" "$T/d.log" || fail "D: gpsd restart not followed"
grep -q "gpsd: no valid fix for [0-9]* s" "$T/d.log" || fail "D: a receiver without a fix not logged"
grep -q "gpsd: valid fix again after" "$T/d.log" || fail "D: the fix coming back not logged"
kept=$(sed -n 's/.*stats: [0-9]* valid fixes, \([0-9]*\) kept.*/\1/p' "$T/d.log" | tail -1)
dropped=$(sqlite3 "$T/d.spool" "SELECT value FROM meta WHERE key='dropped'")
[ "$(spool_count "$T/d.spool")" = 25 ] || fail "D: spool holds $(spool_count "$T/d.spool"), not 25"
[ -n "$kept" ] && [ "$kept" -gt 67 ] || fail "D: only ${kept:-?} fixes taken from two gpsd runs"
[ "$dropped" = $((kept - 25)) ] || fail "D: $dropped dropped counted, expected $((kept - 25))"
grep -q "spool full (25 fixes): dropped" "$T/d.log" || fail "D: dropping not logged"
sqlite3 "$T/d.spool" 'SELECT payload FROM spool ORDER BY id' > "$T/d.spooled"
say "D: $kept fixes taken, 25 kept, $dropped oldest dropped"
start_mosquitto "$MPORT"
start_sub d 'lienwatch/v1/fix/outage-d'
GPORT=$(free_port) # no gpsd this time: only the spool to deliver
start_bridge d outage-d --spool "$T/d.spool" --spool-max 25
D_PID=$BR_PID
wait_for $((30 * SLOW)) spool_empty "$T/d.spool" || fail "D: spool not drained"
wait_for 10 lines_at_least "$T/d.sub" 25 || fail "D: $(wc -l < "$T/d.sub") of 25 arrived"
stop_bridge_ok "$D_PID" d
$CHECK bounded "$T/d.spooled" "$T/d.sub" >&2 || fail "D: kept fixes not delivered in order"
say "D ok"
say "ok"
