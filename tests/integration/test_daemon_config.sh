#!/bin/bash
# Configuration behaviour of lienwatchd, as an operator meets it:
#   - --help and --version work; a bad option exits 2;
#   - an invalid file is refused with FILE:LINE: what is wrong, exit 78
#     (EX_CONFIG, the unit's RestartPreventExitStatus);
#   - --dump-config output is itself a valid configuration;
#   - SIGHUP with an invalid file keeps the running configuration (and the
#     daemon keeps ingesting); SIGHUP with a valid one applies it.
source "$(dirname "$0")/../lib.sh"
lw_setup
D="$BIN/lienwatchd"

"$D" --help | grep -q "SIGHUP" || fail "--help does not document signals"
"$D" --version | grep -Eq '^lienwatchd [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"
rc=0; "$D" --no-such-option >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a bad option exited $rc, not 2"

printf '[mqtt]\nhost = broker\n\n[store]\ncommit_interval_ms = soon\n' >"$T/bad.conf"
rc=0; "$D" -c "$T/bad.conf" --check-config >"$T/out" 2>&1 || rc=$?
[ "$rc" = 78 ] || fail "an invalid file exited $rc, not 78"
grep -q "$T/bad.conf:5: store.commit_interval_ms: 'soon' is not a whole number" "$T/out" ||
    fail "error does not name file, line and problem: $(cat "$T/out")"
rc=0; "$D" -c "$T/nonexistent.conf" --check-config >"$T/out" 2>&1 || rc=$?
[ "$rc" = 78 ] && grep -q "nonexistent.conf: cannot open" "$T/out" || fail "missing file: rc $rc $(cat "$T/out")"

"$D" --dump-config >"$T/dump.conf"
"$D" -c "$T/dump.conf" --check-config >/dev/null || fail "--dump-config output is not a valid configuration"

PORT=$(free_port)
start_mosquitto "$PORT"
cat >"$T/run.conf" <<CONF
[mqtt]
port = $PORT
client_id = lw-config-test
[store]
db = $T/lw.db
[log]
level = info
CONF
lw_wrap "$D" -c "$T/run.conf" >"$T/d.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for 20 grep -q "subscribed to lienwatch/v1/account/+ (QoS 1 granted)" "$T/d.log" || fail "daemon did not start"

# invalid on reload: kept, and the daemon still works
cp "$T/run.conf" "$T/good.conf"
printf '[alerts]\nconfirm_fixes = 0\n' >>"$T/run.conf"
kill -HUP "$DPID"
wait_for 5 grep -q "SIGHUP: .*run.conf:.*alerts.confirm_fixes.*keeping the running configuration" "$T/d.log" ||
    fail "invalid reload not reported: $(tail -3 "$T/d.log")"
kill -0 "$DPID" || fail "daemon died on an invalid reload"
mosquitto_pub -p "$PORT" -q 1 -t owntracks/cfg/car -m "{\"_type\":\"location\",\"lat\":41.1,\"lon\":-8.6,\"tst\":$(($(date +%s) - 10))}"
wait_for 5 sh -c "'$BIN/lienwatch' --db '$T/lw.db' locate cfg/car >/dev/null 2>&1" || fail "no ingest after an invalid reload"

# valid on reload: applied (debug level shows debug lines)
cp "$T/good.conf" "$T/run.conf"
sed -i 's/level = info/level = debug/' "$T/run.conf"
kill -HUP "$DPID"
wait_for 5 grep -q "SIGHUP: configuration re-read" "$T/d.log" || fail "valid reload not applied"
mosquitto_pub -p "$PORT" -q 1 -t owntracks/cfg/car -m "{\"_type\":\"location\",\"lat\":41.2,\"lon\":-8.6,\"tst\":$(date +%s)}"
wait_for 5 grep -q "lienwatchd\[debug\]" "$T/d.log" || fail "log level from the reloaded file not in effect"
stop_checked "$DPID" "lienwatchd"
grep -q "stopped: received 2, stored 2" "$T/d.log" || fail "final counters: $(grep stopped "$T/d.log")"
