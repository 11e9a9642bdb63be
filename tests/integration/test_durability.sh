#!/bin/bash
# test_durability: no acknowledged fix is lost by a clean stop, whatever the
# database does, and a pause is a state, not a death. Real mosquitto,
# lienwatchd, another process (sqlite3) holding the database with BEGIN
# EXCLUSIVE, and a small tmpfs for a full disk (in a private mount
# namespace: needs root and unshare -m; those parts are skipped otherwise):
#   A. the database locked while fixes arrive: the daemon pauses; the
#      retained daemon topic says {"state":"paused","reason":...}; after
#      three keep-alive periods the connection is still up and the last
#      will "offline" never appeared; SIGTERM: exit after stop_timeout with
#      the fixes in the spill file (0600); restarted with the lock gone:
#      merged before reading, every fix stored, the spill removed;
#   B. SIGTERM while locked, the lock released within stop_timeout: the
#      daemon commits and exits, no spill, every fix stored;
#   C. the disk full: the reserve is released and the fixes committed, the
#      daemon topic says so; the disk full again: paused (reason: full);
#      SIGTERM: spilled into the reserve's last part; space freed and
#      restarted: merged, every fix stored, the reserve made again.
# Exit times are printed (the README's durability section quotes them).
source "$(dirname "$0")/../lib.sh"

# the disk-full part needs a private mount namespace: re-run inside one
if [ -z "${LW_DUR_NS:-}" ] && [ "$(id -u)" = 0 ] &&
    command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
    LW_DUR_NS=1 exec unshare -m --propagation private "$BASH" "$0" "$@"
fi
lw_setup
[ -x "$BIN/lienwatchd" ] || fail "$BIN/lienwatchd not built"
command -v mosquitto_sub >/dev/null || skip "mosquitto-clients not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 not installed"
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
PORT=$(free_port)
start_mosquitto "$PORT"
KEEPALIVE=5
STOP_TIMEOUT=3
READY="subscribed to lienwatch/v1/account/+ (QoS 1 granted)"

q() { sqlite3 -cmd ".timeout 5000" "$DB" "$1"; }
n_fixes() { q "select count(*) from fixes"; }
is() { [ "$($1 "${@:3}")" = "$2" ]; } # is FUNC VALUE ARGS...
ms() { date +%s%3N; }

# fixes FROM TO: one OwnTracks fix per second of device d/dN, published in
# one connection (QoS 1)
fixes() {
    local i base=1700000000
    for i in $(seq "$1" "$2"); do
        printf '{"_type":"location","lat":41.%04d,"lon":-8.61,"tst":%d,"acc":10}\n' \
            "$((i % 10000))" "$((base + i))"
    done | mosquitto_pub -p "$PORT" -q 1 -t "owntracks/d/d1" -l ||
        fail "cannot publish fixes $1..$2"
}

start_daemon() { # LOG [--set ...]
    local log=$1 before
    shift
    before=$(grep -c -- "$READY" "$log" 2>/dev/null || true)
    lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" \
        --set mqtt.client_id=lw-durability --set mqtt.reconnect_max=1s \
        --set mqtt.keepalive_s=$KEEPALIVE --set mqtt.state_interval=0 \
        --set store.stop_timeout=${STOP_TIMEOUT}s "$@" -v >>"$log" 2>&1 &
    DPID=$!
    lw_track "$DPID"
    wait_for $((20 * SLOW)) log_has_more "$log" "$READY" "${before:-0}" ||
        fail "daemon did not subscribe: $(tail -3 "$log")"
}

# stop_timed LOG: SIGTERM, wait, check exit 0; STOP_MS = how long it
# took; the daemon must have logged the signal within a second
stop_timed() {
    local t0 rc=0 seen
    t0=$(ms)
    kill -TERM "$DPID"
    wait "$DPID" || rc=$?
    STOP_MS=$(($(ms) - t0))
    lw_untrack "$DPID"
    [ "$rc" = 0 ] || fail "lienwatchd exited $rc after SIGTERM"
    seen=$(grep "received Terminated: stopping" "$1" | tail -1 | cut -d' ' -f1)
    seen=$(date -d "$seen" +%s%3N)
    [ $((seen - t0)) -le $((1000 * SLOW)) ] ||
        fail "SIGTERM handled $((seen - t0)) ms after it was sent"
}

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
    echo "ROLLBACK;" >&7
    exec 7>&-
    wait "$LOCK_PID" || true
    lw_untrack "$LOCK_PID"
}

# the retained daemon topic, as a dashboard sees it, all along
mosquitto_sub -p "$PORT" -q 1 -v -t lienwatch/v1/daemon >"$T/daemon.mqtt" 2>/dev/null &
lw_track $!
last_state() { grep '^lienwatch/v1/daemon ' "$T/daemon.mqtt" | tail -1 | sed 's/^[^ ]* //'; }
state_is() { last_state | grep -q "\"state\":\"$1\""; }

# ---- A: locked for longer than stop_timeout -------------------------------
DB="$T/a.db"
"$BIN/lienwatch" --db "$DB" init-db >/dev/null
start_daemon "$T/a.log"
fixes 1 100
wait_for $((10 * SLOW)) is n_fixes 100 || fail "A: fixes not stored"
lock
fixes 101 300
wait_for $((10 * SLOW)) state_is paused ||
    fail "A: the daemon topic does not say paused: $(last_state)"
last_state | grep -q '"reason":"[^"]*lock' ||
    fail "A: the paused state gives no reason naming the lock: $(last_state)"
# three keep-alive periods without reading: still connected, no will
sleep $((3 * KEEPALIVE + 2))
kill -0 "$DPID" || fail "A: the daemon died"
grep -q '"state":"offline"' "$T/daemon.mqtt" &&
    fail "A: the last will 'offline' was published while the daemon lives"
grep -q "connection lost" "$T/a.log" && fail "A: the connection was lost while paused"
grep -qi "lw-durability.*\(disconnect\|exceeded\|timeout\)" "$T/mosq-$PORT/mosquitto.log" &&
    fail "A: the broker dropped the daemon: $(grep lw-durability "$T/mosq-$PORT/mosquitto.log" | tail -2)"
state_is paused || fail "A: not paused any more while locked: $(last_state)"
[ "$(n_fixes)" = 100 ] || fail "A: stored through the lock"
stop_timed "$T/a.log"
say "A: SIGTERM with the database locked: exit after $STOP_MS ms (stop_timeout ${STOP_TIMEOUT} s)"
[ "$STOP_MS" -ge $((STOP_TIMEOUT * 1000 - 200)) ] ||
    fail "A: exit after $STOP_MS ms, before stop_timeout"
[ "$STOP_MS" -le $((STOP_TIMEOUT * 1000 + 2500 * SLOW)) ] ||
    fail "A: exit after $STOP_MS ms, long after stop_timeout"
# what the daemon had read when reading paused (the rest waits at the
# broker) is spilled
spilled=$(sed -n "s/.*store: \([0-9]*\) fixes, 0 heard marks, 0 alerts and 0 account statuses could not be committed; written to .*/\1/p" "$T/a.log" | tail -1)
[ -n "$spilled" ] && [ "$spilled" -ge 1 ] && [ "$spilled" -le 200 ] ||
    fail "A: the spill is not logged: $(grep store: "$T/a.log" | tail -3)"
say "A: $spilled fixes spilled, $((200 - spilled)) left at the broker"
[ -f "$DB.spill" ] || fail "A: no spill file"
[ "$(stat -c %a "$DB.spill")" = 600 ] || fail "A: spill mode $(stat -c %a "$DB.spill")"
[ "$(grep -c '"t":"fix"' "$DB.spill")" = "$spilled" ] || fail "A: the spill does not hold $spilled fixes"
last_state | grep -q '"state":"offline"' || fail "A: no offline state at the stop: $(last_state)"
unlock
fixes 301 350 # queued by the broker meanwhile
start_daemon "$T/a.log"
grep -q "merging the spill file $DB.spill ($spilled fixes" "$T/a.log" || fail "A: the merge is not logged"
wait_for $((10 * SLOW)) is n_fixes 350 ||
    fail "A: $(n_fixes) of 350 fixes stored after the restart"
[ ! -e "$DB.spill" ] || fail "A: the spill file is still there"
grep -q "spill file $DB.spill is merged and removed" "$T/a.log" || fail "A: removal not logged"
# merged before anything was read from the broker
m=$(grep -n "is merged and removed" "$T/a.log" | tail -1 | cut -d: -f1)
c=$(grep -n "connecting" "$T/a.log" | tail -1 | cut -d: -f1)
[ "$m" -lt "$c" ] || fail "A: the spill was merged after connecting"
[ "$(q "select count(distinct fix_time_ms) from fixes")" = 350 ] || fail "A: duplicates or gaps"
stop_timed "$T/a.log"
say "A: stop with nothing waiting: $STOP_MS ms"

# ---- B: locked at SIGTERM, released within stop_timeout ------------------
DB="$T/b.db"
"$BIN/lienwatch" --db "$DB" init-db >/dev/null
start_daemon "$T/b.log"
lock
fixes 1 150
wait_for $((10 * SLOW)) grep -q "kept in memory, reading paused" "$T/b.log" ||
    fail "B: no pause"
t0=$(ms)
kill -TERM "$DPID"
sleep 1
unlock
rc=0
wait "$DPID" || rc=$?
STOP_MS=$(($(ms) - t0))
lw_untrack "$DPID"
[ "$rc" = 0 ] || fail "B: exit $rc"
say "B: SIGTERM, lock released 1 s later: exit after $STOP_MS ms"
[ "$STOP_MS" -lt $((STOP_TIMEOUT * 1000)) ] || fail "B: waited for the whole stop_timeout"
[ ! -e "$DB.spill" ] || fail "B: spilled although the commit worked"
grep -q "everything received is committed" "$T/b.log" || fail "B: commit at stop not logged"
# what it had read is stored; the broker kept the rest for the next run
read=$(sed -n 's/.*store: committing \([0-9]*\) fixes, .* before stopping.*/\1/p' "$T/b.log" | tail -1)
[ "$(n_fixes)" = "${read:-none}" ] || fail "B: $(n_fixes) stored, $read were read"
start_daemon "$T/b.log"
wait_for $((10 * SLOW)) is n_fixes 150 || fail "B: $(n_fixes) of 150 fixes stored after a restart"
stop_timed "$T/b.log"

# ---- C: the disk full ---------------------------------------------------------
if [ -z "${LW_DUR_NS:-}" ]; then
    say "no private mount namespace (not root, or no unshare -m): part C (full disk) skipped"
    exit 0
fi
mkdir -p "$T/disk"
mount -t tmpfs -o size=8m tmpfs "$T/disk" || { say "cannot mount a tmpfs: part C skipped"; exit 0; }
DB="$T/disk/c.db"
fill() { dd if=/dev/zero of="$T/disk/filler$1" bs=64k 2>/dev/null || true; sync; }
"$BIN/lienwatch" --db "$DB" init-db >/dev/null
start_daemon "$T/c.log" --set store.reserve=2M
[ "$(stat -c %s "$DB.reserve")" = 2097152 ] || fail "C: no 2 MiB reserve"
[ "$(stat -c %a "$DB.reserve")" = 600 ] || fail "C: reserve mode"
fixes 1 50
wait_for $((10 * SLOW)) is n_fixes 50 || fail "C: fixes not stored"
fill 1
fixes 51 400
wait_for $((20 * SLOW)) grep -q "reserve $DB.reserve released" "$T/c.log" ||
    fail "C: the reserve was not released: $(grep store: "$T/c.log" | tail -3)"
wait_for $((20 * SLOW)) is n_fixes 400 || fail "C: $(n_fixes) of 400 stored after the release"
wait_for $((20 * SLOW)) grep -q '"reserve":{[^}]*"held":false' "$T/daemon.mqtt" ||
    fail "C: the daemon topic does not show the released reserve"
# full again: paused
fill 2
fixes 401 1400
wait_for $((30 * SLOW)) state_is paused ||
    fail "C: not paused on a full disk: $(last_state)"
last_state | grep -q '"reason":"[^"]*full' || fail "C: reason: $(last_state)"
stored=$(n_fixes)
stop_timed "$T/c.log"
say "C: SIGTERM with the disk full: exit after $STOP_MS ms"
[ "$STOP_MS" -le $((STOP_TIMEOUT * 1000 + 2500 * SLOW)) ] || fail "C: exit took $STOP_MS ms"
[ -f "$DB.spill" ] || fail "C: no spill file: $(grep store: "$T/c.log" | tail -3)"
spilled=$(grep -c '"t":"fix"' "$DB.spill")
say "C: $stored fixes stored, $spilled spilled"
rm -f "$T/disk"/filler*
start_daemon "$T/c.log" --set store.reserve=2M
wait_for $((20 * SLOW)) is n_fixes 1400 ||
    fail "C: $(n_fixes) of 1400 fixes stored after the restart"
[ ! -e "$DB.spill" ] || fail "C: spill file left"
[ "$(stat -c %s "$DB.reserve")" = 2097152 ] || fail "C: the reserve was not made again"
stop_timed "$T/c.log"
umount "$T/disk"
exit 0
