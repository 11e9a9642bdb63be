#!/bin/bash
# tools/bench.sh BUILD - the lienwatch ingest benchmark (`make bench`).
#
# Not a test: it prints a table from one run on a private broker.
#   1. the limit: lw-baresub, a bare QoS 1 subscriber that only counts, fed
#      by lw-sim (flat out);
#   2. lienwatchd with its default configuration (batched commits);
#   3. lienwatchd committing every fix (store.commit_interval_ms=0);
#   4. for each: ratio to the limit, the consumer's CPU seconds and peak RSS;
#   5. RSS per vehicle with 100,000 vehicles reporting once each.
# Rates are end to end: from the moment lw-sim starts publishing to the
# moment the last message is received (limit) or the last fix is durably
# committed, read from the database itself (the "stored" counter, which the
# daemon commits in the same transaction as the fixes; checked against
# count(*) of fixes at the end). Rows 1 and 2 run BENCH_RUNS times,
# alternating, and the table shows the median run.
#
# The broker is configured like docs/mosquitto/mosquitto.conf (queues sized
# so nothing is dropped, persistence on, 500 in flight), without TLS/auth.
# Everything - simulator, broker, consumer - shares this machine's cores, as
# it would in a one-box deployment.
#
# Environment: BENCH_MESSAGES (default 200000), BENCH_RUNS (default 3),
# BENCH_VEHICLES (fleet for rows 1-3, default 1000), BENCH_CPF_MESSAGES
# (commit-per-fix run, default BENCH_MESSAGES / 2), BENCH_BIG_FLEET (default
# 100000), KEEP=1 keeps the temporary directory.
set -eu
BUILD=${1:-build}
export BUILD
source "$(dirname "$0")/../tests/lib.sh"

M=${BENCH_MESSAGES:-200000}
RUNS=${BENCH_RUNS:-3}
VEHICLES=${BENCH_VEHICLES:-1000}
CPF_M=${BENCH_CPF_MESSAGES:-$((M / 2))}
BIG=${BENCH_BIG_FLEET:-100000}
# Give up on one scenario after this long (a broken daemon must not hang
# `make bench`).
SCENARIO_TIMEOUT_S=120
TARGET_RATIO=0.9
CLK_TCK=$(getconf CLK_TCK)

for b in lienwatchd lienwatch lw-sim lw-baresub; do
    [ -x "$BIN/$b" ] || fail "missing $BIN/$b: build first (make)"
done
command -v mosquitto >/dev/null || fail "mosquitto not installed (make deps)"

lw_setup
DNF=0 # scenarios that did not finish in SCENARIO_TIMEOUT_S
PORT=$(free_port)
start_mosquitto "$PORT" "$(printf '%s\n' \
    'autosave_interval 300' \
    'max_queued_messages 15300000' \
    'max_queued_bytes 0' \
    'max_inflight_messages 500')"

note() { printf '%s\n' "$*" >&2; }
now_ms() { date +%s%3N; }
# kv KEY LINE: the value of KEY=value in a key=value line
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# A session with clean session off outlives its client and would keep
# queueing copies of later scenarios' messages: connect once with the same
# id and a clean session to end it.
end_session() {
    mosquitto_sub -p "$PORT" -i "$1" -t "lienwatch-bench/none" -E 2>/dev/null || true
}
# cpu_ticks PID: utime + stime of a live process, in clock ticks
# (0 when the process is gone: a crashed daemon still gets its table row)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# secs_since TICKS PID: CPU seconds PID used since it had used TICKS
secs_since() {
    awk -v a="$1" -v b="$(cpu_ticks "$2")" -v t="$CLK_TCK" \
        'BEGIN {printf "%.2f", (b - a) / t}'
}
# vm KEY PID: a /proc/PID/status size (VmRSS, VmHWM) in KiB
vm() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status" 2>/dev/null || echo 0; }
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# sim N_VEHICLES N_MESSAGES PREFIX: lw-sim flat out; prints its summary line
sim() {
    "$BIN/lw-sim" --port "$PORT" -n "$1" -c "$2" --rate 0 --seed 1 \
        --topic-prefix "$3" --timeout 120 -q ||
        fail "lw-sim did not get every PUBACK"
}

# ---- the limit: bare subscriber
# run_limit RUN: sets LIMIT_SECS LIMIT_CPU LIMIT_RSS_KIB SIM_CPU BROKER_CPU
run_limit() {
    local out="$T/limit$1.out" line t0 last b0
    "$BIN/lw-baresub" --port "$PORT" --topic "owntracks/+/+" \
        --client-id lw-bench-sub --count "$M" --timeout "$SCENARIO_TIMEOUT_S" \
        -q >"$out" 2>"$T/limit$1.err" &
    local pid=$!
    lw_track "$pid"
    wait_for 10 grep -q '^ready$' "$out" || fail "lw-baresub did not subscribe: $(cat "$T/limit$1.err")"
    b0=$(cpu_ticks "$MOSQ_PID")
    t0=$(now_ms)
    line=$(sim "$VEHICLES" "$M" owntracks/bench)
    SIM_CPU=$(kv cpu_s "$line")
    wait "$pid" || fail "lw-baresub got $(tail -1 "$out")"
    BROKER_CPU=$(secs_since "$b0" "$MOSQ_PID")
    lw_untrack "$pid"
    end_session lw-bench-sub
    line=$(tail -1 "$out")
    last=$(kv last_ms "$line")
    LIMIT_SECS=$(awk -v a="$t0" -v b="$last" 'BEGIN {printf "%.3f", (b - a) / 1000}')
    LIMIT_CPU=$(kv cpu_s "$line")
    LIMIT_RSS_KIB=$(kv maxrss_kib "$line")
}

# ---- lienwatchd
# start_daemon NAME [--set ...]: fresh database $T/NAME.db; sets DPID.
# The daemon's persistent session (client id lienwatchd, clean session off,
# owntracks/+/+ at QoS 1) is created first, as it exists in a deployment:
# the broker queues from that moment, so no message can slip past before
# the daemon's own SUBACK (it logs "subscribed to" when it sends SUBSCRIBE).
start_daemon() {
    local name=$1
    shift
    mosquitto_sub -p "$PORT" -i lienwatchd -c -q 1 -t 'owntracks/+/+' -E ||
        fail "could not create the daemon's session"
    "$BIN/lienwatchd" --db "$T/$name.db" --mqtt-host 127.0.0.1 \
        --mqtt-port "$PORT" "$@" >"$T/$name.log" 2>&1 &
    DPID=$!
    lw_track "$DPID"
    wait_for 20 grep -q "subscribed to owntracks" "$T/$name.log" ||
        fail "lienwatchd did not subscribe: $(tail -5 "$T/$name.log")"
}

# wait_stored DB N: polls the committed "stored" counter every 10 ms until it
# reaches N; prints the wall-clock ms when it did, or "dnf COUNT" (and fails)
# when SCENARIO_TIMEOUT_S passed first. One open connection, so polling costs
# next to nothing.
wait_stored() {
    "$PY" - "$1" "$2" "$SCENARIO_TIMEOUT_S" <<'EOF'
import sqlite3, sys, time
db, want, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
end = time.time() + limit
got = 0
while time.time() < end:
    try:
        row = con.execute(
            "SELECT value FROM counters WHERE name = 'stored'").fetchone()
        got = row[0] if row else 0
    except sqlite3.OperationalError:
        pass  # schema not there yet, or busy: try again
    if got >= want:
        print(int(time.time() * 1000))
        sys.exit(0)
    time.sleep(0.01)
print("dnf %d" % got)
sys.exit(1)
EOF
}

# check_db DB N: every fix there exactly once, nothing rejected
check_db() {
    local n
    n=$(sqlite3 "file:$1?mode=ro" 'SELECT count(*) FROM fixes')
    [ "$n" = "$2" ] || fail "$1: $n fixes in the table, expected $2"
}

# run_daemon NAME MESSAGES VEHICLES [--set ...]: one ingest run; sets D_SECS
# ("inf" when not all fixes were stored in time), D_GOT (fixes stored),
# D_CPU D_HWM_KIB D_RSS0_KIB D_RSS1_KIB SIM_CPU BROKER_CPU
run_daemon() {
    local name=$1 m=$2 n=$3 t0 t1 c0 c1 b0 poller line
    shift 3
    start_daemon "$name" "$@"
    sleep 0.5
    D_RSS0_KIB=$(vm VmRSS "$DPID")
    c0=$(cpu_ticks "$DPID")
    wait_stored "$T/$name.db" "$m" >"$T/$name.done" &
    poller=$!
    b0=$(cpu_ticks "$MOSQ_PID")
    t0=$(now_ms)
    line=$(sim "$n" "$m" "owntracks/$name")
    SIM_CPU=$(kv cpu_s "$line")
    if wait "$poller"; then
        t1=$(cat "$T/$name.done")
        D_GOT=$m
    else
        t1=
        D_GOT=$(awk '{print $2}' "$T/$name.done")
        DNF=$((DNF + 1))
        note "  $name: only $D_GOT of $m fixes stored after $SCENARIO_TIMEOUT_S s; lienwatchd used $(secs_since "$c0" "$DPID") s CPU"
    fi
    c1=$(cpu_ticks "$DPID")
    BROKER_CPU=$(secs_since "$b0" "$MOSQ_PID")
    D_HWM_KIB=$(vm VmHWM "$DPID")
    D_RSS1_KIB=$(vm VmRSS "$DPID")
    stop_pid "$DPID"
    grep -q "stopped: received" "$T/$name.log" ||
        note "  $name: lienwatchd did not stop cleanly on SIGTERM: $(tail -2 "$T/$name.log")"
    end_session lienwatchd
    if [ -n "$t1" ]; then
        check_db "$T/$name.db" "$m"
        D_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1000}')
    else
        D_SECS=inf
    fi
    D_CPU=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
}

rate() {
    if [ "$2" = inf ]; then echo 0; return; fi
    awk -v m="$1" -v s="$2" 'BEGIN {printf "%.0f", (s > 0 ? m / s : 0)}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

note "bench: $M messages from $VEHICLES simulated vehicles, $RUNS runs of the limit and the batched daemon; broker on 127.0.0.1:$PORT"
: >"$T/limit.runs"
: >"$T/batch.runs"
for r in $(seq "$RUNS"); do
    run_limit "$r"
    note "  run $r: bare subscriber $(rate "$M" "$LIMIT_SECS") msgs/s ($LIMIT_SECS s; lw-sim used $SIM_CPU s CPU)"
    echo "$LIMIT_SECS $LIMIT_CPU $LIMIT_RSS_KIB $BROKER_CPU $SIM_CPU" >>"$T/limit.runs"
    run_daemon "batch$r" "$M" "$VEHICLES"
    note "  run $r: lienwatchd batched $(rate "$M" "$D_SECS") fixes/s stored ($D_SECS s)"
    echo "$D_SECS $D_CPU $D_HWM_KIB $BROKER_CPU $SIM_CPU $D_GOT" >>"$T/batch.runs"
done
# the median run by duration, with its own CPU and RSS
pick_median() { sort -g "$1" | sed -n "$(( ($(wc -l <"$1") + 1) / 2 ))p"; }
read -r L_SECS L_CPU L_KIB L_BCPU L_SCPU <<<"$(pick_median "$T/limit.runs")"
read -r B_SECS B_CPU B_KIB B_BCPU B_SCPU B_GOT <<<"$(pick_median "$T/batch.runs")"

note "  commit per fix: $CPF_M messages"
run_daemon cpf "$CPF_M" "$VEHICLES" --set store.commit_interval_ms=0
C_SECS=$D_SECS C_CPU=$D_CPU C_KIB=$D_HWM_KIB C_BCPU=$BROKER_CPU C_SCPU=$SIM_CPU C_GOT=$D_GOT

note "  $BIG vehicles, one message each"
run_daemon big "$BIG" "$BIG"
G_SECS=$D_SECS G_CPU=$D_CPU G_KIB=$D_HWM_KIB G_BCPU=$BROKER_CPU G_SCPU=$SIM_CPU G_GOT=$D_GOT
# per vehicle that got a fix in: all of them unless the run did not finish
PER_VEHICLE=$(awk -v a="$D_RSS0_KIB" -v b="$D_RSS1_KIB" -v n="$D_GOT" \
    'BEGIN {printf "%.0f", (n > 0 ? (b - a) * 1024 / n : 0)}')

L_RATE=$(rate "$M" "$L_SECS")
B_RATE=$(rate "$M" "$B_SECS")
B_RATIO=$(ratio "$B_RATE" "$L_RATE")

# row LABEL MESSAGES SECS CPU_S RSS_KIB BROKER_CPU SIM_CPU STORED
row() {
    local r
    if [ "$3" = inf ]; then
        echo "| $1 | $2 | >$SCENARIO_TIMEOUT_S | DNF: $8 stored | - | $4 | $(mib "$5") | $6 | $7 |"
    else
        r=$(rate "$2" "$3")
        echo "| $1 | $2 | $3 | $r | $(ratio "$r" "$L_RATE") | $4 | $(mib "$5") | $6 | $7 |"
    fi
}

echo
echo "lienwatch ingest benchmark - $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); $(mosquitto -h 2>/dev/null | head -1 | sed 's/ is an MQTT.*//')"
echo "QoS 1, $VEHICLES vehicles, median of $RUNS runs for the first two rows; rates from first publish to last received / last committed fix"
echo
echo "| scenario | messages | seconds | msgs/s | x limit | daemon CPU s | peak RSS MiB | broker CPU s | lw-sim CPU s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| bare QoS 1 subscriber (limit) | $M | $L_SECS | $L_RATE | 1.00 | ($L_CPU) | ($(mib "$L_KIB")) | $L_BCPU | $L_SCPU |"
row "lienwatchd, batched commits (default)" "$M" "$B_SECS" "$B_CPU" "$B_KIB" "$B_BCPU" "$B_SCPU" "$B_GOT"
row "lienwatchd, commit per fix" "$CPF_M" "$C_SECS" "$C_CPU" "$C_KIB" "$C_BCPU" "$C_SCPU" "$C_GOT"
row "lienwatchd, $BIG vehicles x 1 fix" "$BIG" "$G_SECS" "$G_CPU" "$G_KIB" "$G_BCPU" "$G_SCPU" "$G_GOT"
echo "(in brackets: the bare subscriber's own CPU and peak RSS)"
echo
echo "runs (msgs/s): limit $(while read -r s _; do printf '%s ' "$(rate "$M" "$s")"; done <"$T/limit.runs")| batched $(while read -r s _; do printf '%s ' "$(rate "$M" "$s")"; done <"$T/batch.runs")"
echo "RSS per vehicle at $BIG vehicles: $PER_VEHICLE bytes (daemon RSS $(mib "$D_RSS0_KIB") MiB idle -> $(mib "$D_RSS1_KIB") MiB after one fix from each of $D_GOT)"
echo "reference: OwnTracks Recorder stores 18 fixes/s in its default configuration, ~440/s tuned"
if awk -v r="$B_RATIO" -v t="$TARGET_RATIO" 'BEGIN {exit !(r >= t)}'; then
    echo "target: ingest >= ${TARGET_RATIO}x bare subscriber with batching: MET (${B_RATIO}x)"
else
    echo "target: ingest >= ${TARGET_RATIO}x bare subscriber with batching: NOT MET (${B_RATIO}x)"
fi
if [ "$DNF" -gt 0 ]; then
    echo "$DNF scenario(s) did not finish within $SCENARIO_TIMEOUT_S s (see DNF above)"
    exit 1
fi
