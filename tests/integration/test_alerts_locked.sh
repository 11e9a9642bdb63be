#!/bin/bash
# test_alerts_locked: an alert that cannot be stored is kept and retried,
# never dropped. Real mosquitto, lienwatchd, an SMTP server (aiosmtpd), and
# another process (sqlite3) holding the database with BEGIN EXCLUSIVE:
#   A. a vehicle is already outside its keep-in fence when its account goes
#      overdue over MQTT while the lock is held: the geofence_exit (and the
#      account status) cannot be stored; the daemon says so, keeps them and
#      pauses reading; a fix sent meanwhile waits behind them. After the
#      lock is released the alert is stored, published and mailed exactly
#      once, the account status and the fix are stored;
#   B. the lock is held while the fixes that confirm an exit arrive: after
#      the release, the fixes are stored and the exit alerted once;
#   C. a restart repeats nothing.
source "$(dirname "$0")/../lib.sh"
lw_setup
[ -x "$BIN/lienwatchd" ] || fail "$BIN/lienwatchd not built"
$PY -c 'import aiosmtpd' 2>/dev/null || skip "python3-aiosmtpd not installed"
command -v mosquitto_sub >/dev/null || skip "mosquitto-clients not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 not installed"
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
PORT=$(free_port)
SPORT=$(free_port)
start_mosquitto "$PORT"
DB="$T/lw.db"
LW() { "$BIN/lienwatch" --db "$DB" --as locked-test "$@"; }
READY="subscribed to lienwatch/v1/account/+ (QoS 1 granted)"
OUT_LAT=41.20 IN_LAT=41.15 LON=-8.61
now() { date +%s; }
fix() { # DEVICE LAT TST
    mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$1" \
        -m "{\"_type\":\"location\",\"lat\":$2,\"lon\":$LON,\"tst\":$3,\"acc\":10}" ||
        fail "cannot publish a fix of $1"
}
q() { sqlite3 -cmd ".timeout 2000" "$DB" "$1"; }
n_fixes() { q "select count(*) from fixes where device='$1'"; }
n_alerts() { q "select count(*) from alerts where device='$1' and kind='$2'"; }
n_mqtt() { grep -c "^lienwatch/v1/alert/$1 .*\"$2\"" "$T/alerts.mqtt" || true; }
n_mail() { ls "$T/mail"/*.json 2>/dev/null | wc -l; }
is() { [ "$($1 "${@:3}")" = "$2" ]; } # is FUNC VALUE ARGS...

# The fixes below jump kilometres within a second: the jump check
# (ingest.max_speed_kmh) is off here; test_gps_jump.sh tests it.
start_daemon() {
    local before
    before=$(grep -c -- "$READY" "$T/d.log" 2>/dev/null || true)
    lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" \
        --set mqtt.client_id=lw-locked --set mqtt.reconnect_max=1s \
        --set mqtt.state_interval=0 --set ingest.max_speed_kmh=0 \
        --set smtp.url="smtp://127.0.0.1:$SPORT" --set smtp.starttls=no \
        --set smtp.from=alerts@lender.example --set smtp.to=ops@lender.example \
        -v >>"$T/d.log" 2>&1 &
    DPID=$!
    lw_track "$DPID"
    wait_for $((20 * SLOW)) log_has_more "$T/d.log" "$READY" "${before:-0}" ||
        fail "daemon did not subscribe: $(tail -3 "$T/d.log")"
}

# lock / unlock: another process holds the database with BEGIN EXCLUSIVE
# (sqlite3 reading its commands from a FIFO kept open on fd 7; it says
# "locked" once it holds the lock)
lock() {
    rm -f "$T/lock.fifo"
    mkfifo "$T/lock.fifo"
    sqlite3 "$DB" <"$T/lock.fifo" >"$T/lock.log" 2>&1 &
    LOCK_PID=$!
    lw_track "$LOCK_PID"
    exec 7>"$T/lock.fifo"
    echo "BEGIN EXCLUSIVE; SELECT 'locked';" >&7
    wait_for 30 grep -qx locked "$T/lock.log" ||
        fail "the lock was not taken: $(cat "$T/lock.log")"
}
unlock() {
    local rc=0
    echo "ROLLBACK;" >&7
    exec 7>&-
    wait "$LOCK_PID" || rc=$?
    lw_untrack "$LOCK_PID"
    [ "$rc" = 0 ] || fail "the lock holder failed ($rc): $(cat "$T/lock.log")"
}

$PY "$ROOT/tests/integration/smtp_server.py" --port "$SPORT" --dir "$T/mail" \
    >"$T/smtp.log" 2>&1 &
lw_track $!
wait_for 10 port_open "$SPORT" || fail "smtp server did not start: $(cat "$T/smtp.log")"
mosquitto_sub -p "$PORT" -q 1 -t 'lienwatch/v1/alert/#' -v >"$T/alerts.mqtt" 2>/dev/null &
lw_track $!

LW init-db >/dev/null
LW geofence add-circle home "$IN_LAT" "$LON" 3000 --kind keep_in >/dev/null
LW account set L1 --days-past-due 0 --status current >/dev/null
LW vehicle set t/v1 --account L1 >/dev/null
LW vehicle set t/v2 --account L1 >/dev/null
start_daemon

# ---- A: the account goes overdue while the database is locked
t0=$(($(now) - 300))
fix t/v1 "$OUT_LAT" $((t0 + 1))
fix t/v1 "$OUT_LAT" $((t0 + 2))
fix t/v2 "$IN_LAT" $((t0 + 3))
wait_for $((10 * SLOW)) is n_fixes 2 t/v1 || fail "A: fixes of t/v1 not stored"
wait_for $((10 * SLOW)) is n_fixes 1 t/v2 || fail "A: fix of t/v2 not stored"
[ "$(n_alerts t/v1 geofence_exit)" = 0 ] || fail "A: alert while not watched"
lock
mosquitto_pub -p "$PORT" -q 1 -r -t lienwatch/v1/account/L1 \
    -m '{"days_past_due": 45, "status": "overdue"}'
wait_for $((20 * SLOW)) grep -q "1 alerts and 1 account statuses kept in memory, reading paused" "$T/d.log" ||
    fail "A: the failed store is not reported: $(grep -E 'store:|ALERT' "$T/d.log" | tail -3)"
fix t/v1 "$OUT_LAT" $((t0 + 4))
sleep 2
[ "$(n_alerts t/v1 geofence_exit)" = 0 ] || fail "A: an alert was stored through the lock"
[ "$(n_fixes t/v1)" = 2 ] || fail "A: a fix was stored through the lock"
[ "$(n_mqtt t/v1 geofence_exit)" = 0 ] || fail "A: an alert was published before it was stored"
[ "$(n_mail)" = 0 ] || fail "A: a mail went out before its alert was stored"
kill -0 "$DPID" || fail "A: the daemon died"
unlock
wait_for $((20 * SLOW)) is n_alerts 1 t/v1 geofence_exit ||
    fail "A: the kept alert was not stored after the lock: $(grep -E 'store:|ALERT' "$T/d.log" | tail -3)"
wait_for $((10 * SLOW)) grep -q "store: commits work again; reading resumed" "$T/d.log" ||
    fail "A: reading did not resume"
wait_for $((10 * SLOW)) is n_fixes 3 t/v1 || fail "A: the fix sent during the lock was not stored"
wait_for $((10 * SLOW)) is n_mqtt 1 t/v1 geofence_exit || fail "A: the alert was not published"
wait_for $((20 * SLOW)) is n_mail 1 || fail "A: the alert was not mailed: $(grep mail: "$T/d.log" | tail -3)"
[ "$(q "select days_past_due || ' ' || source from accounts where id='L1'")" = "45 mqtt" ] ||
    fail "A: the account status kept during the lock was not stored"
[ "$(q "select published from alerts where device='t/v1'")" = 1 ] ||
    fail "A: the alert is not marked published"

# ---- B: the fixes that confirm an exit arrive while the database is locked
lock
fix t/v2 "$OUT_LAT" $((t0 + 10))
fix t/v2 "$OUT_LAT" $((t0 + 11))
wait_for $((20 * SLOW)) grep -q "fixes, 0 alerts and 0 account statuses kept in memory" "$T/d.log" ||
    fail "B: the failed commit is not reported"
[ "$(n_fixes t/v2)" = 1 ] || fail "B: a fix was stored through the lock"
unlock
wait_for $((20 * SLOW)) is n_fixes 3 t/v2 || fail "B: the kept fixes were not stored"
wait_for $((10 * SLOW)) is n_alerts 1 t/v2 geofence_exit || fail "B: no exit alert after the lock"
wait_for $((10 * SLOW)) is n_mqtt 1 t/v2 geofence_exit || fail "B: the alert was not published"
wait_for $((20 * SLOW)) is n_mail 2 || fail "B: the alert was not mailed"

# ---- C: a restart repeats nothing
stop_checked "$DPID" "lienwatchd"
start_daemon
fix t/v1 "$OUT_LAT" $((t0 + 20))
fix t/v2 "$OUT_LAT" $((t0 + 21))
wait_for $((10 * SLOW)) is n_fixes 4 t/v1 || fail "C: fix not stored"
wait_for $((10 * SLOW)) is n_fixes 4 t/v2 || fail "C: fix not stored"
sleep 3
for d in t/v1 t/v2; do
    [ "$(n_alerts "$d" geofence_exit)" = 1 ] || fail "C: $d alerted again"
    [ "$(n_mqtt "$d" geofence_exit)" = 1 ] || fail "C: $d published again"
done
[ "$(n_alerts t/v1 offline)$(n_alerts t/v2 offline)" = 00 ] || fail "C: unexpected offline alerts"
[ "$(n_mail)" = 2 ] || fail "C: $(n_mail) mails, 2 expected"
grep -q "could not be" "$T/d.log" && fail "C: something was lost: $(grep 'could not be' "$T/d.log")"
stop_checked "$DPID" "lienwatchd"
say "ok"
