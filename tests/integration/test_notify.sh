#!/bin/bash
# test_notify: the daemon speaks systemd's notify protocol as
# lienwatchd.service (Type=notify, WatchdogSec=) expects, without systemd:
# a datagram socket of our own stands in for it.
#   - READY=1 once the database is open and the first connection tried;
#   - with WATCHDOG_USEC=2000000, WATCHDOG=1 about every second (half of
#     it), counted over a window with tolerance;
#   - STATUS= lines, one of them with the counters of a fix we published;
#   - SIGTERM: STOPPING=1 and exit status 0.
# WATCHDOG_PID is left unset: sd_watchdog_enabled() ignores WATCHDOG_USEC
# when WATCHDOG_PID names another process.
source "$(dirname "$0")/../lib.sh"
lw_setup
[ -x "$BIN/lienwatchd" ] || fail "$BIN/lienwatchd not built"
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
# The broker has confirmed all three subscriptions (the daemon logs
# "subscribed to" when it sends SUBSCRIBE; a message published before the
# SUBACK may find no subscription yet). Needs -v (libmosquitto's debug log).
subacked() { [ "$(grep -c 'received SUBACK' "$1")" -ge 3 ]; }

PORT=$(free_port)
start_mosquitto "$PORT"

# The stand-in for systemd: every datagram, one line per assignment, each
# prefixed with the monotonic receive time in seconds.
SOCK="$T/notify.sock"
$PY -u - "$SOCK" >"$T/notify.log" 2>"$T/notify.err" <<'PY' &
import os, socket, sys, time
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
while True:
    data = s.recv(65536).decode("utf-8", "replace")
    now = time.monotonic()
    for line in data.splitlines():
        if line:
            print("%.3f %s" % (now, line), flush=True)
PY
NPID=$!
lw_track "$NPID"
wait_for 5 test -S "$SOCK" || fail "notify socket not created: $(cat "$T/notify.err")"

unset WATCHDOG_PID
NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=2000000 \
    lw_wrap "$BIN/lienwatchd" --db "$T/lw.db" --mqtt-port "$PORT" \
    --set mqtt.client_id=lw-notify -v >"$T/daemon.log" 2>&1 &
DPID=$!
lw_track "$DPID"

wait_for $((10 * SLOW)) grep -q ' READY=1$' "$T/notify.log" ||
    fail "no READY=1 within $((10 * SLOW)) s; notify: $(cat "$T/notify.log"); daemon: $(tail -5 "$T/daemon.log")"
[ -s "$T/lw.db" ] || fail "READY=1 before the database exists"
grep -q "systemd watchdog: pinging every 1.0 s" "$T/daemon.log" ||
    say "note: the daemon did not log its watchdog interval"
t_ready=$(awk '$2 == "READY=1" { print $1; exit }' "$T/notify.log")
say "READY=1 received"

# A fix, so the counters in STATUS= have something to say.
wait_for $((10 * SLOW)) subacked "$T/daemon.log" ||
    fail "daemon did not subscribe: $(tail -5 "$T/daemon.log")"
mosquitto_pub -p "$PORT" -q 1 -t owntracks/alice/phone \
    -m "{\"_type\":\"location\",\"lat\":52.52,\"lon\":13.405,\"tst\":$(date +%s),\"acc\":8}" ||
    fail "mosquitto_pub failed"

# The status timer fires every 10 s; wait for one line with counters.
wait_for $((15 * SLOW)) grep -q ' STATUS=.*stored 1' "$T/notify.log" ||
    fail "no STATUS= line with 'stored 1'; got: $(grep STATUS= "$T/notify.log")"
say "status: $(grep ' STATUS=' "$T/notify.log" | tail -1 | cut -d' ' -f2-)"

# Watchdog pace: WATCHDOG_USEC is 2 s, so a ping every 1 s. Count the pings
# from 1.5 s to 9.5 s after READY: 8 s, its edges half a period away from
# the pings (whose phase is READY's), so 8 are expected.
now=$(awk '{ t = $1 } END { print t }' "$T/notify.log")
sleep_for=$(awk -v r="$t_ready" -v n="$now" 'BEGIN { d = r + 10 - n; print (d > 0 ? d : 0) }')
sleep "$sleep_for"
read -r count first last < <(awk -v a="$t_ready" '
    $2 == "WATCHDOG=1" && $1 >= a + 1.5 && $1 < a + 9.5 { n++; if (!f) f = $1; l = $1 }
    END { printf "%d %s %s\n", n, f, l }' "$T/notify.log")
total=$(grep -c ' WATCHDOG=1$' "$T/notify.log" || true)
say "WATCHDOG=1: $count in the 8 s window (total $total)"
if [ "${LW_VALGRIND:-0}" = 1 ]; then lo=6; else lo=7; fi
[ "$count" -ge "$lo" ] && [ "$count" -le 9 ] ||
    fail "expected 8 +/- 1 WATCHDOG=1 in 8 s at WATCHDOG_USEC=2 s, got $count: $(grep WATCHDOG "$T/notify.log" | head -20)"
# And never a gap longer than the watchdog period itself.
gap=$(awk '$2 == "WATCHDOG=1" { if (p) { g = $1 - p; if (g > m) m = g } p = $1 } END { printf "%.2f", m }' "$T/notify.log")
say "longest gap between pings: $gap s"
awk -v g="$gap" 'BEGIN { exit !(g < 2.0) }' || fail "watchdog gap of $gap s would have tripped WatchdogSec=2s"

# SIGTERM: STOPPING=1, clean exit.
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
lw_untrack "$DPID"
[ "$rc" -eq 0 ] || fail "daemon exited $rc after SIGTERM: $(tail -5 "$T/daemon.log")"
wait_for 2 grep -q ' STOPPING=1$' "$T/notify.log" || fail "no STOPPING=1 after SIGTERM"
n=$(sqlite3 "$T/lw.db" "SELECT count(*) FROM fixes") || fail "cannot read $T/lw.db"
[ "$n" = 1 ] || fail "expected 1 stored fix, found $n"
say "ok: READY, $count WATCHDOG pings in 8 s, STATUS, STOPPING, exit 0"
