#!/bin/bash
# test_gpsbridge_policy: lw-gpsbridge's reporting policy, TPV formatting,
# settings, signals and systemd notification, on real recordings.
#
#   A. --dry-run on what the installed gpsd decodes from every real log
#      (gpsdecode -j): with intervals 0 every valid fix comes out once, in
#      order; with the defaults (5 s moving, 300 s parked, 30 degree turns)
#      fewer, and exactly the ones the policy of lw-gpsbridge(8) names: the
#      first, every start, stop, turn and clock jump, and the interval ones.
#      That list is re-derived here independently from the all-fixes run;
#      plus two rules checked without the policy's details: while moving,
#      no two reports closer than min_interval unless the later one is an
#      event, and never a gap above parked_interval between reports while
#      fixes keep coming.
#   B. live: the B&G chartplotter log replayed through gpsd with the default
#      policy gives, at a persistent subscriber, exactly what --dry-run
#      gives on the TPVs gpspipe saw from the same gpsd.
#   C. options and configuration file: defaults, the example file (every
#      key, at its default), precedence, errors and exit statuses; --help
#      names every option and the man page documents every key and option
#      and renders without a warning.
#   D. a running bridge: READY/WATCHDOG/STATUS/STOPPING over a private
#      NOTIFY_SOCKET, SIGHUP re-reads the file (and keeps the settings when
#      it is invalid), a second bridge on the same spool is refused, SIGTERM
#      exits 0.
source "$(dirname "$0")/../lib.sh"
need_data
lw_setup

for p in gpsdecode gpsfake gpspipe mosquitto mosquitto_sub; do
    command -v "$p" >/dev/null || skip "$p not installed"
done
NMEA=$LW_DATA_DIR/nmea
SWISS=$NMEA/genivi/20100403_Z205_Switzerland.txt
[ -f "$SWISS" ] || skip "no Swiss drive at $SWISS"
GB=$BIN/lw-gpsbridge
[ -x "$GB" ] || fail "$GB not built"
export WRITE_PAD=0

# ---- A: dry-run policy on every log
cat > "$T/policy.py" <<'EOF'
import json, math, sys

MIN_MS, PARKED_MS, TURN, MOVING = 5000, 300000, 30.0, 1.5   # the defaults

def fixes(path):
    out = []
    for line in open(path):
        topic, _, payload = line.rstrip("\n").partition(" ")
        o = json.loads(payload)
        if o["class"] != "TPV" or o["mode"] < 2:
            raise SystemExit("bad payload " + payload)
        t = o["time"]
        ms = int(round(__import__("datetime").datetime.fromisoformat(
            t.replace("Z", "+00:00")).timestamp() * 1000))
        out.append(dict(key=(t, o["lat"], o["lon"]), ms=ms, lat=o["lat"], lon=o["lon"],
                        speed=o.get("speed"), track=o.get("track")))
    return out

def dist(a, b):
    p1, p2 = math.radians(a["lat"]), math.radians(b["lat"])
    h = (math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) *
         math.sin(math.radians(b["lon"] - a["lon"]) / 2) ** 2)
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))

def angle(a, b):
    d = math.fmod(abs(a - b), 360.0)
    return 360.0 - d if d > 180.0 else d

def expected(allf):
    """The policy of lw-gpsbridge(8), re-derived: (fix, reason) kept."""
    kept, moving, prev, last = [], True, None, None
    for f in allf:
        speed = f["speed"]
        if speed is None and prev is not None and f["ms"] > prev["ms"]:
            speed = dist(prev, f) * 1000.0 / (f["ms"] - prev["ms"])
        was = moving
        if speed is not None:
            if not moving and speed >= MOVING:
                moving = True
            elif moving and speed < MOVING / 2:
                moving = False
        if prev is None:
            was = moving
        why = None
        if last is None:
            why = "first"
        elif f["ms"] < last["ms"]:
            why = "time-jump"
        elif not was and moving:
            why = "start"
        elif was and not moving:
            why = "stop"
        elif (moving and f["track"] is not None and last["track"] is not None
              and angle(f["track"], last["track"]) > TURN):
            why = "turn"
        elif f["ms"] - last["ms"] >= (MIN_MS if moving else PARKED_MS):
            why = "interval"
        f["moving"] = moving
        prev = f
        if why:
            kept.append((f, why))
            last = f
    return kept

name, allpath, defpath = sys.argv[1], sys.argv[2], sys.argv[3]
allf, got = fixes(allpath), fixes(defpath)
keys = [f["key"] for f in allf]
if len(set(keys)) != len(keys) and name != "humminbird-M37":
    raise SystemExit("%s: a fix came out twice with intervals 0" % name)
exp = expected(allf)
reasons = {}
for _, why in exp:
    reasons[why] = reasons.get(why, 0) + 1
bad = []
if [f["key"] for f in got] != [f["key"] for f, _ in exp]:
    gk = {f["key"] for f in got}
    ek = {f["key"] for f, _ in exp}
    miss = [(f["key"][0], w) for f, w in exp if f["key"] not in gk]
    extra = [f["key"][0] for f in got if f["key"] not in ek]
    bad.append("kept %d, policy says %d; missing %s; extra %s" % (len(got), len(exp), miss[:4], extra[:4]))
# rules that do not depend on the details above
why_of = {f["key"]: w for f, w in exp}
flags = {f["key"]: f for f in allf}
for a, b in zip(got, got[1:]):
    w = why_of.get(b["key"])
    gap = b["ms"] - a["ms"]
    if flags[b["key"]].get("moving") and 0 <= gap < MIN_MS and w not in ("start", "stop", "turn", "time-jump"):
        bad.append("two reports %d ms apart while moving: %s" % (gap, b["key"][0]))
# liveness: between two kept fixes, no input fix is more than parked
# interval after the earlier one without a report (unless the clock jumped)
ki = {f["key"]: i for i, f in enumerate(allf)}
idx = [ki[f["key"]] for f in got]
for i, j in zip(idx, idx[1:] + [len(allf)]):
    for f in allf[i + 1:j]:
        if f["ms"] - allf[i]["ms"] > PARKED_MS:
            bad.append("no report for over %d s before %s" % (PARKED_MS // 1000, f["key"][0]))
            break
print("%-36s valid %6d  kept %5d (%s)" % (name, len(allf), len(got),
      ", ".join("%s %d" % kv for kv in sorted(reasons.items()))))
for b in bad[:10]:
    print("FAIL %s: %s" % (name, b))
sys.exit(1 if bad else 0)
EOF
nall=0 ndef=0
for log in "$NMEA"/gpsd/*.log "$SWISS"; do
    name=$(basename "${log%.*}")
    gpsdecode -j < "$log" > "$T/$name.json" 2>/dev/null || true
    "$GB" --device "$name" --dry-run --min-interval 0 --parked-interval 0 \
        < "$T/$name.json" > "$T/$name.all" 2> "$T/$name.all.err" ||
        fail "dry run on $name failed: $(tail -3 "$T/$name.all.err")"
    "$GB" --device "$name" --dry-run < "$T/$name.json" > "$T/$name.def" 2> "$T/$name.def.err" ||
        fail "dry run on $name failed: $(tail -3 "$T/$name.def.err")"
    $PY "$T/policy.py" "$name" "$T/$name.all" "$T/$name.def" > "$T/$name.policy" ||
        { cat "$T/$name.policy" >&2; fail "$name: the default policy kept other fixes than it should"; }
    cat "$T/$name.policy" >&2
    # every line is "TOPIC PAYLOAD" on the device's topic
    if grep -qv "^lienwatch/v1/fix/$name {\"class\":\"TPV\"" "$T/$name.all"; then
        fail "$name: a dry-run line is not 'lienwatch/v1/fix/$name {TPV}'"
    fi
    nall=$((nall + $(wc -l < "$T/$name.all")))
    ndef=$((ndef + $(wc -l < "$T/$name.def")))
done
s_all=$(wc -l < "$T/20100403_Z205_Switzerland.all")
s_def=$(wc -l < "$T/20100403_Z205_Switzerland.def")
[ "$s_def" -lt $((s_all / 3)) ] || fail "Swiss drive: default policy kept $s_def of $s_all"
for ev in start stop turn; do
    grep -q "[(, ]$ev [1-9]" "$T/20100403_Z205_Switzerland.policy" || fail "Swiss drive: no $ev kept"
done
# a longer interval keeps fewer
s_60=$("$GB" --device x --dry-run --min-interval 60 < "$T/20100403_Z205_Switzerland.json" 2>/dev/null | wc -l)
[ "$s_60" -lt "$s_def" ] || fail "min_interval 60 s kept $s_60, not fewer than $s_def"
say "A ok: $nall valid fixes in all logs, $ndef kept by the default policy (Swiss drive: $s_def of $s_all, $s_60 with 60 s)"

# ---- B: live, default policy == dry run on what gpsd said
MPORT=$(free_port)
start_mosquitto "$MPORT"
mosquitto_sub -h 127.0.0.1 -p "$MPORT" -q 1 -c -i gb-policy-sub \
    -t 'lienwatch/v1/fix/live' -v > "$T/live.sub" 2>&1 &
lw_track $!
BZ=$NMEA/gpsd/bundg_zeus_9.log
$PY - "$BZ" "$T/live.nmea" <<'EOF'
import sys
body = "GPTXT,01,01,02,lienwatch test padding"
cs = 0
for ch in body:
    cs ^= ord(ch)
open(sys.argv[2], "wb").write(("$%s*%02X\r\n" % (body, cs)).encode() * 1200 +
                              open(sys.argv[1], "rb").read())
EOF
GPORT=$(free_port)
TMPDIR="$T" gpsfake -n -1 -q -P "$GPORT" -c 0.002 -W 1 "$T/live.nmea" > "$T/live.gpsfake" 2>&1 &
GF=$!
lw_track "$GF"
wait_for 10 port_open "$GPORT" || fail "B: gpsfake's gpsd did not start"
gp=$(pgrep -P "$GF" -x gpsd || true)
[ -n "$gp" ] && lw_track "$gp"
gpspipe -w "127.0.0.1:$GPORT" > "$T/live.pipe" 2>/dev/null &
PIPE=$!
lw_track "$PIPE"
"$GB" --device live --gpsd "127.0.0.1:$GPORT" --mqtt-host 127.0.0.1 \
    --mqtt-port "$MPORT" --spool "$T/live.spool" > "$T/live.log" 2>&1 &
BR=$!
lw_track "$BR"
wait "$GF" 2>/dev/null || true
lw_untrack "$GF"
wait "$PIPE" 2>/dev/null || true
lw_untrack "$PIPE"
"$GB" --device live --dry-run < "$T/live.pipe" > "$T/live.expect" 2>/dev/null
n=$(wc -l < "$T/live.expect")
[ "$n" -gt 5 ] || fail "B: only $n fixes expected"
sub_has_all() { [ "$(wc -l < "$T/live.sub")" -ge "$n" ]; }
wait_for 20 sub_has_all || fail "B: $(wc -l < "$T/live.sub") of $n arrived"
sleep 0.5
stop_pid "$BR"
diff "$T/live.expect" "$T/live.sub" >&2 || fail "B: live output differs from --dry-run on gpsd's own reports"
say "B ok: live bridge == dry run on gpspipe's TPVs ($n of $(grep -c '"class":"TPV"' "$T/live.pipe") TPVs kept)"

# ---- C: options, configuration, documentation
EX=$ROOT/gpsbridge/lw-gpsbridge.conf.example
MAN=$ROOT/docs/man/lw-gpsbridge.8
"$GB" --print-config > "$T/defaults"
"$GB" -c "$EX" --print-config > "$T/example" || fail "C: the example file does not load"
diff "$T/defaults" "$T/example" >&2 || fail "C: the example file is not at the defaults"
cut -d' ' -f1 "$T/defaults" | sort > "$T/keys"
grep -E '^[a-z_]+ =' "$EX" | cut -d' ' -f1 | sort > "$T/example.keys"
diff "$T/keys" "$T/example.keys" >&2 || fail "C: the example file does not list every key once"
grep -q '^min_interval = 5s$' "$T/defaults" || fail "C: min_interval default"
grep -q '^parked_interval = 300s$' "$T/defaults" || fail "C: parked_interval default"
grep -q '^spool_max = 100000$' "$T/defaults" || fail "C: spool_max default"
grep -q '^gpsd = localhost:2947$' "$T/defaults" || fail "C: gpsd default"
printf 'device = fromfile\nmin_interval = 10s\nparked_interval = 1m\n' > "$T/c.conf"
out=$("$GB" -c "$T/c.conf" --min-interval 3 --print-config)
grep -q '^device = fromfile$' <<<"$out" || fail "C: device from the file"
grep -q '^min_interval = 3s$' <<<"$out" || fail "C: the command line does not override the file"
grep -q '^parked_interval = 60s$' <<<"$out" || fail "C: parked_interval from the file"
# expect_rc RC WHAT ARGS...: exit status and a message on stderr
expect_rc() {
    local want=$1 what=$2 rc=0
    shift 2
    "$GB" "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?
    [ "$rc" = "$want" ] || fail "C: $what: exit $rc, expected $want ($(cat "$T/err"))"
    [ "$want" = 0 ] || [ -s "$T/err" ] || fail "C: $what: no message"
}
expect_rc 0 "--help" --help
expect_rc 0 "--version" --version
grep -q "lw-gpsbridge $(cat "$ROOT/VERSION")" "$T/out" || fail "C: --version does not print the version"
expect_rc 78 "no device" --mqtt-host x
expect_rc 2 "unknown option" --device x --no-such-option
expect_rc 78 "bad duration" --device x --min-interval 5parsecs
expect_rc 78 "negative interval" --device x --parked-interval -1
expect_rc 78 "bad port" --device x --mqtt-port 70000
expect_rc 78 "bad device" --device 'a/b'
expect_rc 78 "bad sync mode" --device x --spool-sync sometimes
expect_rc 78 "bare IPv6 gpsd" --device x --gpsd ::1
expect_rc 2 "stray argument" --device x extra
expect_rc 2 "missing argument" --device
expect_rc 1 "unreadable password file" --device x --mqtt-username u \
    --mqtt-password-file "$T/no-such-file" --spool "$T/pw.spool"
expect_rc 78 "certfile without keyfile" --device x --mqtt-cafile /etc/hosts --mqtt-certfile /etc/hosts
expect_rc 78 "missing config file" -c "$T/nope.conf" --device x
printf 'device = x\nno_such_key = 1\n' > "$T/bad.conf"
expect_rc 78 "unknown key" -c "$T/bad.conf"
grep -q "no_such_key" "$T/err" || fail "C: the unknown key is not named"
printf '[bridge]\ndevice = x\n' > "$T/bad2.conf"
expect_rc 78 "section" -c "$T/bad2.conf"
"$GB" --help > "$T/help"
for o in $(grep -oE -- '--[a-z][a-z-]+' "$T/help" | sort -u); do
    grep -q -- "$(sed 's/-/\\\\-/g' <<<"$o")" "$MAN" || fail "C: $o is not in the man page"
done
for k in $(cat "$T/keys"); do
    grep -q "\\.BR* $k\\b\\|($k)\\|\\.RB ( $k\\b\\|$k\\b" "$MAN" || fail "C: key $k is not in the man page"
done
for o in --device --gpsd --mqtt-host --mqtt-port --spool --config --min-interval --parked-interval --help --version; do
    grep -q -- "$o" "$T/help" || fail "C: --help does not mention $o"
done
if command -v groff >/dev/null; then
    w=$(groff -man -Tutf8 -ww -z "$MAN" 2>&1)
    [ -z "$w" ] || { echo "$w" >&2; fail "C: groff warns about the man page"; }
fi
if command -v man >/dev/null; then
    w=$(MANWIDTH=80 man -l "$MAN" 2>&1 >/dev/null)
    [ -z "$w" ] || { echo "$w" >&2; fail "C: man -l complains"; }
fi
say "C ok: settings, example file, errors, --help and man page"

# ---- D: notify socket, SIGHUP, spool lock, SIGTERM
cat > "$T/notify.py" <<'EOF'
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a") as f:
    while True:
        msg = s.recv(4096).decode()
        f.write(msg.replace("\n", "|") + "\n")
        f.flush()
EOF
$PY "$T/notify.py" "$T/notify.sock" "$T/notify.log" &
lw_track $!
wait_for 5 test -S "$T/notify.sock" || fail "D: notify listener did not start"
printf 'device = sig\nmin_interval = 5s\n' > "$T/d.conf"
DEAD=$(free_port) # nothing listens: gpsd and broker both down
old_umask=$(umask)
umask 022
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=1000000 "$GB" -c "$T/d.conf" \
    --gpsd "127.0.0.1:$DEAD" --mqtt-host 127.0.0.1 --mqtt-port "$DEAD" \
    --spool "$T/d.spool" > "$T/d.log" 2>&1 &
DP=$!
lw_track "$DP"
wait_for 5 grep -q '^READY=1' "$T/notify.log" || fail "D: no READY=1"
# the spool says where the vehicle was: private, even when run by hand
# with a umask that lets others read new files
for f in "$T/d.spool" "$T/d.spool-wal" "$T/d.spool-shm"; do
    [ -f "$f" ] || fail "D: $f missing while the bridge runs"
    [ "$(stat -c %a "$f")" = 600 ] || fail "D: $f has mode $(stat -c %a "$f"), not 600"
done
has_two_watchdogs() { [ "$(grep -c '^WATCHDOG=1' "$T/notify.log")" -ge 2 ]; }
wait_for 5 has_two_watchdogs || fail "D: WATCHDOG=1 not sent every half WATCHDOG_USEC"
wait_for 5 grep -q '^STATUS=gpsd down, broker down; 0 fixes' "$T/notify.log" || fail "D: no STATUS"
expect_rc 1 "second bridge on one spool" --device other --spool "$T/d.spool"
grep -q "locked" "$T/err" || fail "D: the spool lock is not explained"
printf 'device = sig\nmin_interval = 7s\n' > "$T/d.conf"
kill -HUP "$DP"
wait_for 5 grep -q "SIGHUP: re-read" "$T/d.log" || fail "D: SIGHUP not handled"
printf 'device = sig\nmin_interval = soon\n' > "$T/d.conf"
kill -HUP "$DP"
wait_for 5 grep -q "SIGHUP: .* is not valid; keeping" "$T/d.log" || fail "D: invalid file on SIGHUP not reported"
grep -q "mqtt 127.0.0.1:$DEAD: cannot connect" "$T/d.log" || fail "D: broker failure not logged"
grep -q "gpsd 127.0.0.1:$DEAD: cannot connect" "$T/d.log" || fail "D: gpsd failure not logged"
rc=0
kill -TERM "$DP"
wait "$DP" || rc=$?
lw_untrack "$DP"
[ "$rc" = 0 ] || fail "D: exit $rc on SIGTERM"
wait_for 5 grep -q '^STOPPING=1' "$T/notify.log" || fail "D: no STOPPING=1"
# a spool made readable by others (an earlier version, or by hand) is
# made private at the next start, its -wal and -shm files too
chmod 644 "$T/d.spool"
sqlite3 "$T/d.spool" "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(a)" >/dev/null
touch "$T/d.spool-wal" "$T/d.spool-shm"
chmod 644 "$T/d.spool-wal" "$T/d.spool-shm"
printf 'device = sig\n' > "$T/d.conf"
"$GB" -c "$T/d.conf" --gpsd "127.0.0.1:$DEAD" --mqtt-host 127.0.0.1 \
    --mqtt-port "$DEAD" --spool "$T/d.spool" > "$T/d2.log" 2>&1 &
DP=$!
lw_track "$DP"
wait_for 5 grep -q "fixes waiting" "$T/d2.log" || fail "D: second run did not start: $(tail -3 "$T/d2.log")"
for f in "$T/d.spool" "$T/d.spool-wal" "$T/d.spool-shm"; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "D: $f left at mode $(stat -c %a "$f")"
done
stop_pid "$DP"
umask "$old_umask"
say "D ok: notify, SIGHUP, spool lock, SIGTERM, spool files 0600"

# ---- E: TLS and a password, against a broker that wants both
if ! command -v openssl >/dev/null || ! command -v mosquitto_passwd >/dev/null; then
    say "E skipped: openssl or mosquitto_passwd not installed"
    say "ok"
    exit 0
fi
mkdir -p "$T/tls"
(
    cd "$T/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
        -subj "/CN=lienwatch test CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
        -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > ext.cnf
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out server.crt -days 2 -extfile ext.cnf 2>/dev/null
    printf 'truck:s3cret\n' > passwd
    mosquitto_passwd -U passwd
    printf 's3cret\n' > pw
    printf 'wrong\n' > badpw
    chmod 600 pw badpw
) || fail "E: could not make test certificates"
TPORT=$(free_port)
# (the later allow_anonymous overrides the one start_mosquitto writes)
start_mosquitto "$TPORT" "cafile $T/tls/ca.crt
certfile $T/tls/server.crt
keyfile $T/tls/server.key
allow_anonymous false
password_file $T/tls/passwd"
mosquitto_sub -h localhost -p "$TPORT" --cafile "$T/tls/ca.crt" -u truck -P s3cret -q 1 \
    -t 'lienwatch/v1/fix/tls' > "$T/tls.sub" 2>&1 &
lw_track $!
# three fixes waiting in a spool made by the bridge itself
"$GB" --device tls --gpsd "127.0.0.1:$DEAD" --mqtt-host 127.0.0.1 --mqtt-port "$DEAD" \
    --spool "$T/tls.spool" > "$T/tls0.log" 2>&1 &
P0=$!
wait_for 10 grep -q "fixes waiting" "$T/tls0.log" || fail "E: no spool created: $(tail -3 "$T/tls0.log")"
stop_pid "$P0"
head -3 "$T/live.sub" | cut -d" " -f2- | while read -r payload; do
    sqlite3 "$T/tls.spool" "INSERT INTO spool (topic, payload, fix_time_ms, taken_ms)
        VALUES ('lienwatch/v1/fix/tls', '$payload', 0, 0)"
done
# tls_bridge NAME ARGS...: runs 3 s against the TLS broker
tls_bridge() {
    local name=$1
    shift
    "$GB" --device tls --gpsd "127.0.0.1:$DEAD" --mqtt-host localhost \
        --mqtt-port "$TPORT" --spool "$T/tls.spool" "$@" > "$T/$name.log" 2>&1 &
    local p=$!
    lw_track "$p"
    sleep 3
    stop_pid "$p"
}
tls_bridge tls-badca --mqtt-cafile /etc/ssl/certs/ca-certificates.crt \
    --mqtt-username truck --mqtt-password-file "$T/tls/pw"
grep -q "mqtt localhost:$TPORT: cannot connect .*TLS: certificate verify failed" "$T/tls-badca.log" || fail "E: unknown CA not reported"
tls_bridge tls-badpw --mqtt-cafile "$T/tls/ca.crt" --mqtt-username truck \
    --mqtt-password-file "$T/tls/badpw"
grep -q "connection refused: .*not authori" "$T/tls-badpw.log" || fail "E: refused password not reported"
[ "$(sqlite3 "$T/tls.spool" 'SELECT count(*) FROM spool')" = 3 ] || fail "E: fixes left the spool unacknowledged"
chmod 644 "$T/tls/pw"
tls_bridge tls-ok --mqtt-cafile "$T/tls/ca.crt" --mqtt-username truck \
    --mqtt-password-file "$T/tls/pw"
grep -q "readable by every user (mode 0644)" "$T/tls-ok.log" || fail "E: a world-readable password file is not warned about"
grep -q "mqtt localhost:$TPORT: connected" "$T/tls-ok.log" || fail "E: no TLS connection: $(tail -3 "$T/tls-ok.log")"
[ "$(sqlite3 "$T/tls.spool" 'SELECT count(*) FROM spool')" = 0 ] || fail "E: spool not drained over TLS"
sub_has_3() { [ "$(wc -l < "$T/tls.sub")" -ge 3 ]; }
wait_for 5 sub_has_3 || fail "E: $(wc -l < "$T/tls.sub") of 3 arrived over TLS"
head -3 "$T/live.sub" | cut -d' ' -f2- | diff - "$T/tls.sub" >&2 || fail "E: TLS delivery differs"
say "E ok: TLS with a private CA and a password file; bad CA and bad password logged, nothing lost"
say "ok"
