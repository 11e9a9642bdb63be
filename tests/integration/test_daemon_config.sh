#!/bin/bash
# Configuration behaviour of lienwatchd, as an operator meets it:
#   - --help and --version work; a bad option exits 2;
#   - an invalid file is refused with FILE:LINE: what is wrong, exit 78
#     (EX_CONFIG, the unit's RestartPreventExitStatus), every problem with
#     its own line;
#   - what --check-config approves starts, and what a start would refuse
#     --check-config refuses too (topic filters the daemon cannot use, files
#     it cannot read as the service user, a directory given as the file):
#     each refused configuration through the real command line, both ways;
#   - --dump-config output is itself a valid configuration;
#   - SIGHUP applies the same checks (an invalid file, or a file naming a
#     missing password file, changes nothing and the daemon keeps
#     ingesting); a valid one is applied key by key from the settings
#     table: a setting SIGHUP can apply is applied, one that needs a restart
#     keeps its running value and is logged by name, so the state topics,
#     the status topic and the last will stay on one topic prefix until the
#     restart, which moves all of them.
source "$(dirname "$0")/../lib.sh"
lw_setup
D="$BIN/lienwatchd"

"$D" --help | grep -q "SIGHUP" || fail "--help does not document signals"
"$D" --help | grep -q "78" || fail "--help does not give --check-config's exit status"
"$D" --version | grep -Eq '^lienwatchd [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"
rc=0; "$D" --no-such-option >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a bad option exited $rc, not 2"

# Files the checks below need, in a directory any user can read (the
# service-user cases run as nobody when the test runs as root).
chmod 0711 "$T"
P="$T/pub"
mkdir -m 0755 "$P"
printf 'secret\n' >"$P/pw"
printf 'x\n' >"$P/ca.pem"
printf 'x\n' >"$P/cert.pem"
printf 'x\n' >"$P/key.pem"
chmod 0644 "$P"/*
mkdir -m 1777 "$T/state"
DB="$T/state/lw.db"

# under LW_VALGRIND=1 the --check-config refusals run under valgrind too
# (99: its errors); the starts take the same path, and run without it
VG=()
[ "${LW_VALGRIND:-0}" = 1 ] && VG=(valgrind -q --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite,indirect)

# refused WHAT PATTERN ARGS...: "lienwatchd ARGS --check-config" and a real
# start "lienwatchd ARGS" both exit 78 and print PATTERN (grep -E).
refused() {
    local what=$1 want=$2 rc
    shift 2
    for mode in --check-config start; do
        rc=0
        if [ "$mode" = start ]; then
            timeout 10 "$D" "$@" >"$T/out" 2>&1 || rc=$?
        else
            "${VG[@]}" "$D" "$@" --check-config >"$T/out" 2>&1 || rc=$?
        fi
        [ "$rc" = 78 ] || fail "$what: $mode exited $rc, not 78: $(cat "$T/out")"
        grep -Eq -- "$want" "$T/out" ||
            fail "$what: $mode did not say '$want': $(cat "$T/out")"
    done
}

# conf NAME LINES...: writes $P/NAME.conf (db in $P) and prints its path.
conf() {
    local name=$1
    shift
    { printf '[store]\ndb = %s\n' "$DB"; printf '%s\n' "$@"; } >"$P/$name.conf"
    chmod 0644 "$P/$name.conf"
    echo "$P/$name.conf"
}

# ---- syntax: every problem with its own line
printf '[mqtt]\nhost = broker\n\n[store]\ncommit_interval_ms = soon\n' >"$T/bad.conf"
refused "a bad value" "$T/bad.conf:5: store.commit_interval_ms: 'soon' is not a whole number" -c "$T/bad.conf"
rc=0; "$D" -c "$T/nonexistent.conf" --check-config >"$T/out" 2>&1 || rc=$?
[ "$rc" = 78 ] && grep -q "nonexistent.conf: cannot open" "$T/out" || fail "missing file: rc $rc $(cat "$T/out")"

# the issue: two errors, the second was reported with the first's line
printf '[mqtt]\nhost = a\nport\n[store]\nnope = 1\n' >"$T/two.conf"
refused "two errors" "two.conf:3: syntax error" -c "$T/two.conf"
grep -q "two.conf:5: unknown key 'nope' in section \[store\]" "$T/out" ||
    fail "the second error lacks its own line: $(cat "$T/out")"
[ "$(grep -c 'two.conf:' "$T/out")" = 2 ] || fail "not one line per error: $(cat "$T/out")"
printf '[mqtt]\nport = 0\nqos = 7\n[alerts]\nconfirm_fixes = 0\n' >"$T/three.conf"
refused "three errors" "three.conf:2: mqtt.port" -c "$T/three.conf"
grep -q "three.conf:3: mqtt.qos" "$T/out" && grep -q "three.conf:5: alerts.confirm_fixes" "$T/out" ||
    fail "three errors, three lines: $(cat "$T/out")"

# inih's own behaviour would have read these wrongly without a word
{ printf '[smtp]\nto = '; head -c 300 /dev/zero | tr '\0' a; printf '@example.com\n'; } >"$T/long.conf"
refused "a line too long for the parser" "long.conf:2: the line is longer than" -c "$T/long.conf"
printf '[mqtt]\nhost = a\0b\n' >"$T/nul.conf"
refused "a NUL byte" "nul.conf:2: the line contains a NUL byte" -c "$T/nul.conf"
printf '[mqtt]\nhost = a\n  topic_owntracks = #\n' >"$T/indent.conf"
refused "an indented key (read as a key, not a continuation)" "indent.conf:3: mqtt.topic_owntracks: '#'" -c "$T/indent.conf"
printf '[mqt]\nhost = a\n' >"$T/sect.conf"
refused "an unknown section" "sect.conf:1: unknown section \[mqt\]" -c "$T/sect.conf"

# ---- not a configuration file
refused "a directory as the file" "$T: is a directory, not a configuration file" -c "$T"
refused "an endless file" "/dev/zero: larger than" -c /dev/zero
refused "--set" "command line: mqtt.port: 99999 is outside" --db "$DB" --set mqtt.port=99999

# ---- topic filters the daemon cannot use (every fix would be unknown_topic)
refused "topic '#'" "mqtt.topic_owntracks: '#': '#' is not supported" -c "$(conf hash '[mqtt]' 'topic_owntracks = #')"
refused "topic 'owntracks/#'" "mqtt.topic_owntracks: 'owntracks/#': '#' is not supported" -c "$(conf hash2 '[mqtt]' 'topic_owntracks = owntracks/#')"
refused "an empty topic" "mqtt.topic_owntracks is empty: write 'off'" -c "$(conf empty '[mqtt]' 'topic_owntracks =')"
refused "a topic without '+'" "mqtt.topic_fix: 'gps' has no '\+' level" -c "$(conf noplus '[mqtt]' 'topic_fix = gps')"
refused "a topic matching the daemon's status" "matches the daemon's own topic 'lienwatch/v1/daemon'" -c "$(conf own '[mqtt]' 'topic_owntracks = +/+/+')"
refused "two overlapping topics" "overlap: topic 'lienwatch/v1/x' matches both" --db "$DB" --set mqtt.topic_owntracks=+/v1/+ --set mqtt.topic_fix=lienwatch/+/+
refused "no source of fixes" "both off" --db "$DB" --set mqtt.topic_owntracks=off --set mqtt.topic_fix=off
"$D" --db "$DB" --set mqtt.topic_account=off --check-config >/dev/null ||
    fail "topic_account = off refused"

# ---- files the daemon reads at start
refused "a missing password_file" "mqtt.password_file: $P/none: cannot open for reading" \
    -c "$(conf nopw '[mqtt]' 'username = lw' "password_file = $P/none")"
refused "a directory as cafile" "mqtt.cafile: $P is a directory, not a file" \
    -c "$(conf cadir '[mqtt]' "cafile = $P")"
refused "a missing certfile" "mqtt.certfile: $P/none.pem: cannot open" \
    -c "$(conf nocert '[mqtt]' "cafile = $P/ca.pem" "certfile = $P/none.pem" "keyfile = $P/key.pem")"
refused "a missing keyfile" "mqtt.keyfile: $P/none.pem: cannot open" \
    -c "$(conf nokey '[mqtt]' "cafile = $P/ca.pem" "certfile = $P/cert.pem" "keyfile = $P/none.pem")"
refused "a file as capath" "mqtt.capath: $P/ca.pem: cannot open as a directory" \
    -c "$(conf capath '[mqtt]' "capath = $P/ca.pem")"
refused "a missing smtp.password_file" "smtp.password_file: $P/none: cannot open" \
    -c "$(conf smtppw '[smtp]' 'username = lw' "password_file = $P/none")"
refused "a missing smtp.cafile" "smtp.cafile: $P/none: cannot open" \
    -c "$(conf smtpca '[smtp]' "cafile = $P/none")"
refused "a database that is a directory" "store.db: $P is not a regular file" --db "$P"
# all of them at once: each named
refused "several missing files" "mqtt.password_file: .*" \
    -c "$(conf many '[mqtt]' 'username = lw' "password_file = $P/none" "cafile = $P/none2")"
grep -q "mqtt.cafile: $P/none2" "$T/out" || fail "second missing file not named: $(cat "$T/out")"
good=$(conf good '[mqtt]' 'username = lw' "password_file = $P/pw" "cafile = $P/ca.pem" \
    "certfile = $P/cert.pem" "keyfile = $P/key.pem" '[smtp]' "cafile = $P/ca.pem")
"$D" -c "$good" --check-config >"$T/out" 2>&1 || fail "good files refused: $(cat "$T/out")"

# ... readable by the service user: as root, check as nobody (root passes
# every permission test, and --check-config says so)
if [ "$(id -u)" = 0 ]; then
    grep -q "checked as root" "$T/out" || fail "no note that root checked the files"
    AS=(runuser -u nobody --)
    "${AS[@]}" "$D" --version >/dev/null 2>&1 || skip "cannot run $D as nobody"
    chown root:root "$P/pw"
else
    AS=()
fi
chmod 0600 "$P/pw"
rc=0; "${AS[@]}" "$D" -c "$good" --check-config >"$T/out" 2>&1 || rc=$?
[ "$rc" = 78 ] && grep -q "mqtt.password_file: $P/pw: cannot open for reading as uid .*Permission denied" "$T/out" ||
    fail "a password file the service user cannot read passed: rc $rc $(cat "$T/out")"
rc=0; "${AS[@]}" timeout 10 "$D" -c "$good" >"$T/out" 2>&1 || rc=$?
[ "$rc" = 78 ] || fail "start with an unreadable password file exited $rc: $(cat "$T/out")"
chmod 0644 "$P/pw"
mkdir -m 0555 "$P/ro"
rc=0; "${AS[@]}" "$D" --db "$P/ro/lw.db" --check-config >"$T/out" 2>&1 || rc=$?
[ "$rc" = 78 ] && grep -q "store.db: cannot create files in $P/ro" "$T/out" ||
    fail "a database directory the service user cannot write passed: rc $rc $(cat "$T/out")"

"$D" --dump-config >"$T/dump.conf"
"$D" -c "$T/dump.conf" --db "$DB" --check-config >/dev/null || fail "--dump-config output is not a valid configuration"
grep -q "Takes effect at a restart" "$T/dump.conf" && grep -q "SIGHUP applies a change" "$T/dump.conf" ||
    fail "--dump-config does not say how keys take a change"

# ---- SIGHUP with a running daemon
PORT=$(free_port)
start_mosquitto "$PORT"
mosquitto_sub -p "$PORT" -v -t 'lienwatch/#' -t 'other/#' >"$T/sub.log" 2>/dev/null &
SUB=$!
lw_track "$SUB"
cat >"$T/run.conf" <<CONF
[mqtt]
port = $PORT
client_id = lw-config-test
[store]
db = $T/lw.db
[log]
level = info
# its vehicle is not watched: its position goes out only on this opt-in
[privacy]
publish_unwatched = yes
CONF
lw_wrap "$D" -c "$T/run.conf" >"$T/d.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for 20 grep -q "subscribed to lienwatch/v1/account/+ (QoS 1 granted)" "$T/d.log" || fail "daemon did not start"
wait_for 5 grep -q '^lienwatch/v1/daemon {"state":"online"' "$T/sub.log" || fail "no online status"

# invalid on reload: kept, and the daemon still works
cp "$T/run.conf" "$T/good.conf"
printf '[alerts]\nconfirm_fixes = 0\n' >>"$T/run.conf"
kill -HUP "$DPID"
wait_for 5 grep -q "SIGHUP: .*run.conf:.*alerts.confirm_fixes" "$T/d.log" ||
    fail "invalid reload not reported: $(tail -3 "$T/d.log")"
wait_for 5 grep -q "SIGHUP: configuration not reloaded; keeping the running configuration" "$T/d.log" ||
    fail "invalid reload: not said that the running configuration is kept"
kill -0 "$DPID" || fail "daemon died on an invalid reload"
mosquitto_pub -p "$PORT" -q 1 -t owntracks/cfg/car -m "{\"_type\":\"location\",\"lat\":41.1,\"lon\":-8.6,\"tst\":$(($(date +%s) - 10))}"
wait_for 5 sh -c "'$BIN/lienwatch' --db '$T/lw.db' locate cfg/car --reason 'config test' >/dev/null 2>&1" || fail "no ingest after an invalid reload"

# the checks of a start: a missing password file is refused on SIGHUP too
cp "$T/good.conf" "$T/run.conf"
printf '[mqtt]\nkeepalive_s = 45\nusername = lw\npassword_file = %s/missing\n' "$T" >>"$T/run.conf"
n=$(grep -c "configuration not reloaded" "$T/d.log")
kill -HUP "$DPID"
wait_for 5 log_has_more "$T/d.log" "configuration not reloaded" "$n" || fail "missing password file accepted on SIGHUP"
grep -q "SIGHUP: $T/run.conf: mqtt.password_file: $T/missing: cannot open" "$T/d.log" ||
    fail "SIGHUP did not name the missing password file: $(tail -3 "$T/d.log")"
grep -q "keepalive_s changed" "$T/d.log" && fail "a refused file half-applied"

# valid on reload: applied key by key
cp "$T/good.conf" "$T/run.conf"
sed -i 's/level = info/level = debug/' "$T/run.conf"
cat >>"$T/run.conf" <<CONF
[mqtt]
topic_prefix = other/v9
keepalive_s = 45
reconnect_max = 10s
[ingest]
max_payload_bytes = 256
[alerts]
confirm_fixes = 3
CONF
kill -HUP "$DPID"
wait_for 5 grep -q "SIGHUP: configuration re-read from $T/run.conf: 3 changes applied, 3 waiting for a restart" "$T/d.log" ||
    fail "valid reload not applied: $(grep SIGHUP "$T/d.log" | tail -8)"
for k in mqtt.topic_prefix mqtt.keepalive_s mqtt.reconnect_max; do
    grep -q "SIGHUP: $k changed (.*): takes effect at restart" "$T/d.log" ||
        fail "restart-only $k not named: $(grep SIGHUP "$T/d.log" | tail -8)"
done
grep -q "SIGHUP: mqtt.topic_prefix changed ('lienwatch/v1' -> 'other/v9'): takes effect at restart; running with 'lienwatch/v1'" "$T/d.log" ||
    fail "topic_prefix: old and new values not logged"
for k in "ingest.max_payload_bytes: '65536' -> '256'" "alerts.confirm_fixes: '2' -> '3'" "log.level: 'info' -> 'debug'"; do
    grep -q "SIGHUP: $k (applied)" "$T/d.log" || fail "not applied: $k"
done
# applied: the payload limit (ingest) and the log level
big=$(printf '{"_type":"location","lat":41.2,"lon":-8.6,"tst":%d,"pad":"%0300d"}' "$(date +%s)" 0)
mosquitto_pub -p "$PORT" -q 1 -t owntracks/cfg/car -m "$big"
wait_for 5 grep -q "rejected message on 'owntracks/cfg/car' (too_large)" "$T/d.log" ||
    fail "ingest.max_payload_bytes from the reloaded file not in effect"
mosquitto_pub -p "$PORT" -q 1 -t owntracks/cfg/car -m "{\"_type\":\"location\",\"lat\":41.2,\"lon\":-8.6,\"tst\":$(date +%s)}"
wait_for 5 grep -q "lienwatchd\[[0-9]*\]: debug: " "$T/d.log" || fail "log level from the reloaded file not in effect"
# kept: the state of the new fix goes where the status topic and the will are
# (within state_interval, 10 s, of the previous state of the device)
wait_for 15 grep -q '^lienwatch/v1/state/cfg/car .*"lat":41.2' "$T/sub.log" ||
    fail "state not published on the running prefix: $(tail -5 "$T/sub.log")"
stop_checked "$DPID" "lienwatchd"
grep -q "stopped: received 3, stored 2" "$T/d.log" || fail "final counters: $(grep stopped "$T/d.log")"
wait_for 5 grep -q '^lienwatch/v1/daemon {"state":"offline"' "$T/sub.log" || fail "offline status not on the running prefix"
grep -q '^other/' "$T/sub.log" && fail "half-applied topic_prefix: $(grep '^other/' "$T/sub.log")"

# the restart takes the new prefix everywhere
lw_wrap "$D" -c "$T/run.conf" >"$T/d2.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for 20 grep -q "subscribed to lienwatch/v1/account/+" "$T/d2.log" || fail "daemon did not restart"
wait_for 5 grep -q '^other/v9/daemon {"state":"online"' "$T/sub.log" || fail "status not on the new prefix after restart"
mosquitto_pub -p "$PORT" -q 1 -t owntracks/cfg/car -m "{\"_type\":\"location\",\"lat\":41.3,\"lon\":-8.6,\"tst\":$(date +%s)}"
wait_for 5 grep -q '^other/v9/state/cfg/car .*"lat":41.3' "$T/sub.log" || fail "state not on the new prefix after restart"
# a SIGHUP with nothing changed says so
kill -HUP "$DPID"
wait_for 5 grep -q "SIGHUP: configuration re-read from $T/run.conf: no changes" "$T/d2.log" ||
    fail "unchanged reload: $(grep SIGHUP "$T/d2.log")"
stop_checked "$DPID" "lienwatchd"
grep -q '^lienwatch/v1/state/cfg/car .*"lat":41.3' "$T/sub.log" && fail "state on the old prefix after restart"
say "ok"
