#!/bin/bash
# test_commands.sh - "locate now" and the ends of cases, with a real
# mosquitto, lienwatchd, the lienwatch CLI, and (part B) lw-gpsbridge on
# gpsd (gpsfake):
#   A. an OwnTracks device: 'lienwatch command send' queues report_now;
#      lienwatchd publishes {"_type":"cmd","action":"reportLocation"} at
#      QoS 1 on owntracks/<user>/<device>/cmd within 2 s, the request is
#      then sent; a fix taken before the request does not answer it, a
#      newer one does; a second request while one is queued is the same
#      request; a device id without a command topic fails; the requests
#      are in the audit trail;
#   B. an lw-gpsbridge device: the command goes to lienwatch/v1/cmd/<id>
#      as {"action":"report_now"} within 2 s, the bridge (whose policy
#      would send nothing for an hour) sends its next fix, and the request
#      is answered ('command send --wait');
#   C. cases: a case opened for a watched vehicle ends by itself when its
#      account is paid up (lienwatchd records "unwatched", within a few
#      seconds), and at its expiry.
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
D="$BIN/lienwatchd"
GB="$BIN/lw-gpsbridge"
[ -x "$D" ] || fail "$D not built"
for p in mosquitto mosquitto_sub mosquitto_pub sqlite3; do
    command -v "$p" >/dev/null || skip "$p not installed"
done
lw_setup
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
DB="$T/lw.db"
PORT=$(free_port)
start_mosquitto "$PORT"

lw() { "$L" --db "$DB" --as ops1 "$@"; }
now_ms() { $PY -c 'import time; print(int(time.time() * 1000))'; }
# ms_since T0: milliseconds since T0 (ms)
ms_since() { echo $(( $(now_ms) - $1 )); }

lw init-db >/dev/null || fail "init-db"
lw account set ACC-1 --days-past-due 45 --status overdue >/dev/null || fail "account set"
lw vehicle set alice/phone --account ACC-1 --plate 'B-LW 1' >/dev/null || fail "vehicle set"
lw account set ACC-2 --days-past-due 60 >/dev/null || fail "account set"
lw vehicle set van7 --account ACC-2 --plate 'VAN 7' >/dev/null || fail "vehicle set"

# every command topic, with arrival times (ms), QoS 1
$PY -u - "$PORT" > "$T/cmd.sub" 2> "$T/cmd.sub.err" <<'EOF' &
import socket, struct, sys, time
# a minimal MQTT 3.1.1 subscriber (QoS 1) that prints "ms topic payload":
# mosquitto_sub cannot stamp arrival times
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
def pkt(t, body):
    n, enc = len(body), b""
    while True:
        b = n % 128; n //= 128
        enc += bytes([b | (0x80 if n else 0)])
        if not n: break
    return bytes([t]) + enc + body
def mstr(b): return struct.pack(">H", len(b)) + b
s.sendall(pkt(0x10, mstr(b"MQTT") + b"\x04\x02\x00\x3c" + mstr(b"lw-cmd-sub")))
subs = [b"owntracks/+/+/cmd", b"lienwatch/v1/cmd/#"]
body = struct.pack(">H", 1) + b"".join(mstr(t) + b"\x01" for t in subs)
s.sendall(pkt(0x82, body))
buf = b""
def read(n):
    global buf
    while len(buf) < n:
        d = s.recv(65536)
        if not d: sys.exit(0)
        buf += d
    r, buf = buf[:n], buf[n:]
    return r
while True:
    h = read(1)[0]
    mult, n = 1, 0
    while True:
        b = read(1)[0]; n += (b & 127) * mult; mult *= 128
        if not b & 128: break
    body = read(n)
    if h >> 4 == 9:
        print("subscribed", flush=True)
    elif h >> 4 == 3:
        qos = (h >> 1) & 3
        tl = struct.unpack(">H", body[:2])[0]
        topic = body[2:2 + tl].decode()
        rest = body[2 + tl:]
        if qos:
            mid, rest = rest[:2], rest[2:]
            s.sendall(pkt(0x40, mid))
        print("%d %s %d %s" % (int(time.time() * 1000), topic, qos,
                               rest.decode()), flush=True)
EOF
lw_track $!
wait_for 10 grep -q subscribed "$T/cmd.sub" || fail "the test's subscriber did not subscribe: $(cat "$T/cmd.sub.err")"

lw_wrap "$D" --db "$DB" --mqtt-port "$PORT" --set mqtt.client_id=lw-cmd-test \
    --set alerts.watch_days_past_due=30 -v > "$T/d.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for $((10 * SLOW)) grep -q "subscribed to owntracks" "$T/d.log" ||
    fail "lienwatchd did not subscribe: $(tail -5 "$T/d.log")"

# ot_fix TST_S: an OwnTracks location of alice/phone taken at TST_S
ot_fix() {
    mosquitto_pub -p "$PORT" -q 1 -t owntracks/alice/phone \
        -m "{\"_type\":\"location\",\"lat\":52.52,\"lon\":13.405,\"tst\":$1,\"acc\":12}"
}
state_of() { lw command show "$1" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
dev_known() { sqlite3 "$DB" "SELECT count(*) FROM devices WHERE id = '$1'" | grep -qx 1; }

# ---- A: OwnTracks
rc=0
lw command send alice/phone >/dev/null 2>"$T/err" || rc=$?
[ "$rc" = 3 ] || fail "A: a device never heard of: exit $rc"
grep -q "never reported" "$T/err" || fail "A: message: $(cat "$T/err")"
T_OLD=$(( $(date +%s) - 120 ))
ot_fix "$T_OLD"
wait_for $((10 * SLOW)) dev_known alice/phone || fail "A: the first fix was not stored"

t0=$(now_ms)
ID=$(lw command send alice/phone --reason 'case test')
[ "$ID" = 1 ] || fail "A: first request id '$ID'"
sent_ot() { grep -q " owntracks/alice/phone/cmd 1 {\"_type\":\"cmd\",\"action\":\"reportLocation\"}$" "$T/cmd.sub"; }
wait_for $((5 * SLOW)) sent_ot || fail "A: nothing on owntracks/alice/phone/cmd: $(cat "$T/cmd.sub")"
at=$(awk '/owntracks\/alice\/phone\/cmd/ {print $1; exit}' "$T/cmd.sub")
took=$((at - t0))
say "A: published $took ms after the request was queued"
[ "$took" -le $((2000 * SLOW)) ] || fail "A: published after $took ms (more than 2 s)"
wait_for $((3 * SLOW)) is_state "$ID" sent || fail "A: state $(state_of "$ID"), not sent"
grep -q "command 1: report_now for alice/phone (asked by .*) published on owntracks/alice/phone/cmd" "$T/d.log" ||
    fail "A: no log line for the publication"

# a late fix taken before the request: stored, not an answer
ot_fix $(( t0 / 1000 - 30 ))
sleep $((2 * SLOW))
is_state "$ID" sent || fail "A: a fix older than the request answered it: $(state_of "$ID")"
# a fix taken after it: answered
ot_fix $(( t0 / 1000 + 2 ))
wait_for $((5 * SLOW)) is_state "$ID" answered || fail "A: not answered: $(state_of "$ID")"
lw command show "$ID" --json > "$T/show.json"
$PY - "$T/show.json" "$t0" <<'EOF' || fail "A: show --json: $(cat "$T/show.json")"
import json, sys
from datetime import datetime
d = json.load(open(sys.argv[1]))
ms = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000
assert d["command_id"] == 1 and d["device"] == "alice/phone", d
assert d["action"] == "report_now" and d["state"] == "answered", d
assert d["requested_by"], d
t0 = int(sys.argv[2])
assert ms(d["created"]) <= ms(d["sent"]) <= ms(d["answered"]), d
assert ms(d["answer_fix_time"]) > ms(d["created"]), d
assert d["error"] is None, d
EOF
lw command show "$ID" > "$T/out"
grep -q "^command 1: answered at .* by the fix of " "$T/out" || fail "A: show: $(cat "$T/out")"

# while one is queued, asking again is the same request (daemon stopped so
# that it stays queued); a device id with three levels has no topic
stop_checked "$DPID" "lienwatchd"
A1=$(lw command send alice/phone)
A2=$(lw command send 'B-LW 1')
[ "$A1" = 2 ] && [ "$A2" = 2 ] || fail "A: queued twice: $A1 $A2"
is_state 2 queued || fail "A: with the daemon stopped: $(state_of 2)"
sqlite3 "$DB" "INSERT INTO devices (id, first_heard_ms, last_heard_ms) VALUES ('a/b/c', 1, 1)" ||
    fail "A: a device with three levels"
B1=$(lw command send --device a/b/c)
lw_wrap "$D" --db "$DB" --mqtt-port "$PORT" --set mqtt.client_id=lw-cmd-test \
    --set alerts.watch_days_past_due=30 -v >> "$T/d.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for $((10 * SLOW)) is_state 2 sent || fail "A: the queued request was not sent after the restart: $(state_of 2)"
wait_for $((5 * SLOW)) is_state "$B1" failed || fail "A: a/b/c: $(state_of "$B1")"
lw command show "$B1" > "$T/out" || true
grep -q "failed: no command topic for this device" "$T/out" || fail "A: failure: $(cat "$T/out")"
n=$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE action = 'command report_now'")
[ "$n" = 3 ] || fail "A: $n audit records of requests, expected 3 (a repeated one is not recorded)"
sqlite3 "$DB" "SELECT reason FROM audit WHERE action = 'command report_now' AND detail = 'command=1'" |
    grep -qx 'case test' || fail "A: the reason is not recorded"
say "A ok"

# ---- B: lw-gpsbridge on gpsd
if [ -x "$GB" ] && command -v gpsfake >/dev/null; then
    # NMEA whose times run a few seconds ahead of the clock, one epoch a
    # second, standing still (a parked car: the policy sends the first fix
    # and then nothing for an hour)
    $PY - "$T/b.nmea" <<'EOF'
import sys, time
def cs(body):
    c = 0
    for ch in body:
        c ^= ord(ch)
    return "$%s*%02X\r\n" % (body, c)
# ahead by more than gpsfake takes to start: a fix taken after the request
# must carry a later time than the request (GPS receivers keep true time)
t0 = int(time.time()) + 15
out = []
for i in range(400):
    t = time.gmtime(t0 + i)
    hms = time.strftime("%H%M%S", t) + ".00"
    dmy = time.strftime("%d%m%y", t)
    out.append(cs("GPGGA,%s,5231.200,N,01324.300,E,1,08,0.9,35.0,M,40.0,M,," % hms))
    out.append(cs("GPGSA,A,3,01,02,03,04,05,06,07,08,,,,,1.5,0.9,1.2"))
    out.append(cs("GPRMC,%s,A,5231.200,N,01324.300,E,0.0,0.0,%s,,,A" % (hms, dmy)))
open(sys.argv[1], "w").write("".join(out))
EOF
    GPORT=$(free_port)
    TMPDIR="$T" gpsfake -n -1 -q -P "$GPORT" -c 0.333 -W 1 "$T/b.nmea" > "$T/b.gpsfake" 2>&1 &
    GF=$!
    lw_track "$GF"
    wait_for 10 port_open "$GPORT" || fail "B: gpsfake's gpsd did not start"
    gp=$(pgrep -P "$GF" -x gpsd || true)
    [ -n "$gp" ] && lw_track "$gp"
    "$GB" --device van7 --gpsd "127.0.0.1:$GPORT" --mqtt-host 127.0.0.1 \
        --mqtt-port "$PORT" --spool "$T/b.spool" --min-interval 1h \
        --parked-interval 1h -v > "$T/b.log" 2>&1 &
    BR=$!
    lw_track "$BR"
    wait_for $((20 * SLOW)) dev_known van7 || fail "B: the bridge's first fix did not arrive: $(tail -5 "$T/b.log")"
    wait_for 10 grep -q "subscribed to lienwatch/v1/cmd/van7" "$T/b.log" ||
        fail "B: the bridge did not subscribe to its command topic: $(tail -5 "$T/b.log")"
    # let the clock pass the first fix's time: the request comes after it
    first=$(sqlite3 "$DB" "SELECT last_fix_time_ms FROM devices WHERE id = 'van7'")
    past_first() { [ "$(now_ms)" -gt $((first + 1000)) ]; }
    wait_for 30 past_first || fail "B: the first fix is dated too far ahead"
    t0=$(now_ms)
    rc=0
    lw command send van7 --wait $((20 * SLOW))s > "$T/b.send" 2>&1 || rc=$?
    [ "$rc" = 0 ] || fail "B: command send --wait exited $rc: $(cat "$T/b.send"); bridge: $(tail -5 "$T/b.log")"
    grep -q "answered at" "$T/b.send" || fail "B: $(cat "$T/b.send")"
    grep -q " lienwatch/v1/cmd/van7 1 {\"action\":\"report_now\"}$" "$T/cmd.sub" ||
        fail "B: nothing on lienwatch/v1/cmd/van7: $(cat "$T/cmd.sub")"
    at=$(awk '/lienwatch\/v1\/cmd\/van7/ {print $1; exit}' "$T/cmd.sub")
    took=$((at - t0))
    say "B: published $took ms after the request"
    [ "$took" -le $((2000 * SLOW)) ] || fail "B: published after $took ms"
    grep -q "report_now on lienwatch/v1/cmd/van7" "$T/b.log" || fail "B: the bridge did not log the command"
    grep -q ": requested" "$T/b.log" || fail "B: the bridge did not send a requested fix: $(grep fix "$T/b.log" | tail -3)"
    last=$(sqlite3 "$DB" "SELECT last_fix_time_ms FROM devices WHERE id = 'van7'")
    [ "$last" -gt "$first" ] || fail "B: no newer fix stored ($first -> $last)"
    n=$(grep -c ": requested" "$T/b.log")
    [ "$n" = 1 ] || fail "B: $n requested fixes for one command"
    stop_pid "$BR"
    say "B ok: answered $(( $(now_ms) - t0 )) ms after the request"
else
    say "B skipped: lw-gpsbridge or gpsfake missing"
fi

# ---- C: cases end by themselves
"$L" --db "$DB" user add maria --role agent --password-file <(echo 'a long password') >/dev/null ||
    fail "C: user add"
C1=$(lw case open alice/phone --agent maria --expires 72h --reason 'order 1' --config /dev/null)
C2=$(lw case open van7 --agent maria --expires 3s --reason 'order 2' --config /dev/null)
[ "$C1" = 1 ] && [ "$C2" = 2 ] || fail "C: case ids $C1 $C2"
case_state() { lw case list --all --json | $PY -c "import json,sys; print([c['state'] for c in json.load(sys.stdin) if c['case_id'] == $1][0])"; }
lw account set ACC-1 --days-past-due 0 --status paid_off >/dev/null || fail "C: account set"
recorded() { sqlite3 "$DB" "SELECT outcome FROM cases WHERE id = $1" | grep -qx "$2"; }
wait_for $((5 * SLOW)) recorded 1 unwatched || fail "C: the paid-up case was not ended: $(case_state 1)"
grep -q "cases: 1 ended" "$T/d.log" || fail "C: no log line"
wait_for $((15 * SLOW)) recorded 2 expired || fail "C: the expired case was not recorded: $(sqlite3 "$DB" 'SELECT * FROM cases')"
[ "$(case_state 2)" = expired ] || fail "C: list says $(case_state 2)"
n=$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE action = 'case end' AND who = 'lienwatchd'")
[ "$n" = 2 ] || fail "C: $n 'case end' records by lienwatchd"
"$L" --db "$DB" audit verify >/dev/null || fail "C: the audit trail does not verify"
stop_checked "$DPID" "lienwatchd"
# since the restart: request 2 and van7's published, van7's answered,
# a/b/c's failed (B skipped: one fewer of the first two)
grep -Eq "commands: [12] published, [01] answered, 1 failed" "$T/d.log" ||
    fail "daemon totals: $(grep 'commands:' "$T/d.log" | tail -2)"
say "ok"
