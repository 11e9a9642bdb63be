#!/bin/bash
# tools/bench_kill9.sh BUILD - what kill -9 loses at full speed (`make bench`).
#
# Not a test: it prints a table. libmosquitto acknowledges a QoS 1 message
# before lienwatchd sees it, so what was received and not yet committed dies
# with the process. Each run, on a private broker (persistent session,
# queues large enough that nothing is dropped):
#   1. lienwatchd with the default configuration (commit_interval_ms 50,
#      commit_max_fixes 1000) and lw-sim publishing BENCH_KILL_MESSAGES
#      distinct fixes flat out (BENCH_KILL_VEHICLES vehicles);
#   2. once a quarter of them is stored, and then a random 0-0.5 s later
#      (not just after a commit, which the stored count shows), kill -9;
#      the rate so far is the stored count over the time since lw-sim
#      started;
#   3. lw-sim finishes into the broker's queue; lienwatchd is started again
#      on the same session and database and drains everything the broker
#      still has (what the dead daemon had not acknowledged is redelivered);
#   4. lost = published - stored: acknowledged and never committed; in
#      milliseconds of traffic at the rate of step 2. The longest commit
#      wait (receipt to commit) is the drained run's, at full speed, from
#      its stop line.
# Environment: BENCH_KILL_MESSAGES (default 60000), BENCH_KILL_VEHICLES
# (1000), BENCH_KILL_RUNS (3), BENCH_KILL_INTERVAL (commit_interval_ms, 50).
set -eu
BUILD=${1:-build}
export BUILD
source "$(dirname "$0")/../tests/lib.sh"

M=${BENCH_KILL_MESSAGES:-60000}
V=${BENCH_KILL_VEHICLES:-1000}
RUNS=${BENCH_KILL_RUNS:-3}
INTERVAL=${BENCH_KILL_INTERVAL:-50}
# Give up on a run after this long.
RUN_TIMEOUT_S=180

for b in lienwatchd lw-sim; do
    [ -x "$BIN/$b" ] || fail "missing $BIN/$b: build first (make)"
done
command -v mosquitto >/dev/null || fail "mosquitto not installed"
lw_setup
ms() { date +%s%3N; }
stored() {
    sqlite3 -cmd ".timeout 2000" "$DB" \
        "select coalesce((select value from counters where name='stored'), 0)" 2>/dev/null || echo 0
}

printf '\nkill -9 at full speed: %d fixes from %d vehicles, commit_interval_ms %d\n' \
    "$M" "$V" "$INTERVAL"
printf '%-4s %12s %12s %10s %10s %22s\n' run "fixes/s" "killed at" lost "lost ms" "longest commit wait ms"
worst_lost=0 worst_ms=0 worst_wait=0
for run in $(seq "$RUNS"); do
    PORT=$(free_port)
    start_mosquitto "$PORT"
    DB="$T/k$run.db"
    LOG="$T/k$run.log"
    "$BIN/lienwatch" --db "$DB" init-db >/dev/null
    daemon() {
        "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" \
            --set mqtt.client_id=lw-kill9 --set mqtt.state_interval=1h \
            --set store.reserve=0 --set store.commit_interval_ms="$INTERVAL" \
            >>"$LOG" 2>&1 &
        DPID=$!
        lw_track "$DPID"
        wait_for 20 grep -q "subscribed to lienwatch/v1/account/+" "$LOG" ||
            fail "lienwatchd did not start: $(tail -3 "$LOG")"
    }
    daemon
    t0=$(ms)
    "$BIN/lw-sim" --port "$PORT" -n "$V" -r 0 -c "$M" --client-id "lw-sim-k$run" \
        --timeout 120 >"$T/sim$run.log" 2>&1 &
    SIM=$!
    lw_track "$SIM"
    n=0
    deadline=$((SECONDS + RUN_TIMEOUT_S))
    while n=$(stored) && [ "$n" -lt $((M / 4)) ]; do
        [ $SECONDS -lt $deadline ] || fail "run $run: only $n stored"
        sleep 0.05
    done
    sleep "0.$(printf '%03d' $((RANDOM % 500)))"
    kill -9 "$DPID"
    t_kill=$(ms)
    wait "$DPID" 2>/dev/null || true
    lw_untrack "$DPID"
    at=$(stored)
    rate=$((at * 1000 / (t_kill - t0)))
    wait "$SIM" || fail "run $run: lw-sim failed: $(tail -3 "$T/sim$run.log")"
    lw_untrack "$SIM"
    # the drained run, until nothing more arrives
    : >"$LOG.2"
    LOG="$LOG.2"
    daemon
    last=-1
    while n=$(sqlite3 -cmd ".timeout 2000" "$DB" "select count(*) from fixes") &&
        [ "$n" != "$last" ]; do
        last=$n
        [ $SECONDS -lt $deadline ] || fail "run $run: drain did not settle"
        sleep 2
    done
    stop_checked "$DPID" lienwatchd
    lost=$((M - n))
    lost_ms=$((rate > 0 ? lost * 1000 / rate : 0))
    wait_ms=$(sed -n 's/.*longest commit wait \([0-9]*\) ms.*/\1/p' "$LOG" | tail -1)
    printf '%-4s %12d %12d %10d %10d %22s\n' "$run" "$rate" "$at" "$lost" "$lost_ms" "${wait_ms:-?}"
    [ "$lost" -gt "$worst_lost" ] && worst_lost=$lost
    [ "$lost_ms" -gt "$worst_ms" ] && worst_ms=$lost_ms
    [ "${wait_ms:-0}" -gt "$worst_wait" ] && worst_wait=${wait_ms:-0}
    stop_pid "$MOSQ_PID"
done
printf 'worst of %d: %d fixes lost (%d ms of traffic); longest commit wait %d ms\n' \
    "$RUNS" "$worst_lost" "$worst_ms" "$worst_wait"
