#!/bin/bash
# tools/bench.sh BUILD - the lienwatch ingest benchmark (`make bench`).
#
# Not a test: it prints a table from one run on a private broker.
#   1. the limit: lw-baresub, a bare QoS 1 subscriber that only counts, fed
#      by lw-sim (flat out);
#   2. lienwatchd with its default configuration (batched commits);
#   3. lienwatchd committing every fix (store.commit_interval_ms=0);
#   4. for each: ratio to the limit, the consumer's CPU seconds and peak RSS;
#   5. RSS per vehicle with 100,000 vehicles reporting once each;
#   6. lienwatchd batched again, with the alert engine at work: the
#      simulated vehicles registered on overdue accounts (watched) and
#      BENCH_FENCES (10,000) geofences in the database, generated here by
#      tools/gen_fences.py (a 256-vertex keep_in region around the fleet
#      for every vehicle, keep_out fences of other accounts where the fleet
#      drives, keep_out fences for everyone over Portugal, Spain, Europe);
#      compared with row 2 (no registry, no fences);
#   7. backlog drain, each consumer's own ceiling: BENCH_DRAIN_RUNS (3) times
#      each, M messages queued by the broker for the consumer's persistent
#      session while it is away, then the consumer started and timed until
#      it has received (lw-baresub) or durably stored (lienwatchd) them all,
#      with only the broker beside it (no publisher competing for the CPU);
#   8. alert latency: on the same database, with lw-sim as background load,
#      tools/bench_latency.py takes BENCH_LAT_VEHICLES watched vehicles out
#      of their keep_in region (two far fixes each: confirm_fixes = 2) and
#      times each geofence_exit from the publish of its confirming fix to
#      its arrival at a subscriber on lienwatch/v1/alert/# (p50/p90/p99/max).
# Rates are end to end: from the moment lw-sim starts publishing to the
# moment the last message is received (limit) or the last fix is durably
# committed, read from the database itself (the "stored" counter, which the
# daemon commits in the same transaction as the fixes; checked against
# count(*) of fixes at the end). Rows 1, 2 and 6 run BENCH_RUNS times,
# alternating, and the table shows the median run. The three processes
# (simulator, broker, consumer) saturate a 2-core machine, so single runs
# vary by +-20 % with scheduling; besides the ratio of the medians, each
# round's own ratio (the daemon's run against the limit measured just
# before it) is printed, and a target counts as met only when both the
# ratio of the medians and the median of the rounds' ratios reach it.
#
# The broker is configured like docs/mosquitto/mosquitto.conf (queues sized
# so nothing is dropped, persistence on, 500 in flight), without TLS/auth.
# Everything - simulator, broker, consumer - shares this machine's cores, as
# it would in a one-box deployment.
#
# Environment: BENCH_MESSAGES (default 200000), BENCH_RUNS (default 5),
# BENCH_VEHICLES (fleet for rows 1-3 and 6, default 1000), BENCH_CPF_MESSAGES
# (commit-per-fix run, default BENCH_MESSAGES / 2), BENCH_BIG_FLEET (default
# 100000), BENCH_FENCES (default 10000), BENCH_LAT_VEHICLES (vehicles taken
# out in the latency run, default 1000), BENCH_LAT_RATE (of them per second,
# default 50), BENCH_LOAD_RATE (background fixes/s during the latency run,
# default 1000), KEEP=1 keeps the temporary directory.
set -eu
BUILD=${1:-build}
export BUILD
source "$(dirname "$0")/../tests/lib.sh"

M=${BENCH_MESSAGES:-200000}
RUNS=${BENCH_RUNS:-5}
VEHICLES=${BENCH_VEHICLES:-1000}
CPF_M=${BENCH_CPF_MESSAGES:-$((M / 2))}
BIG=${BENCH_BIG_FLEET:-100000}
FENCES=${BENCH_FENCES:-10000}
DRAIN_RUNS=${BENCH_DRAIN_RUNS:-3}
LAT_K=${BENCH_LAT_VEHICLES:-1000}
LAT_RATE=${BENCH_LAT_RATE:-50}
LOAD_RATE=${BENCH_LOAD_RATE:-1000}
# lw-sim's default fleet centre (Porto); the latency run takes vehicles to
# Salamanca, Spain (about 250 km east, outside every generated fence)
CENTRE=41.15,-8.61
AWAY=40.96,-5.66
TOOLS=$(cd "$(dirname "$0")" && pwd)
# Give up on one scenario after this long (a broken daemon must not hang
# `make bench`).
SCENARIO_TIMEOUT_S=120
TARGET_RATIO=0.9
CLK_TCK=$(getconf CLK_TCK)

for b in lienwatchd lienwatch lw-sim lw-baresub; do
    [ -x "$BIN/$b" ] || fail "missing $BIN/$b: build first (make)"
done
command -v mosquitto >/dev/null || fail "mosquitto not installed (make deps)"
command -v sqlite3 >/dev/null || fail "sqlite3 not installed (make deps)"
"$PY" -c 'import paho.mqtt.client' 2>/dev/null ||
    fail "python3-paho-mqtt not installed (make deps)"

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
# D_CPU D_HWM_KIB D_RSS0_KIB D_RSS1_KIB SIM_CPU BROKER_CPU. The database is
# $T/NAME.db (fresh unless the caller put one there); lw-sim publishes on
# owntracks/NAME unless RUN_PREFIX says otherwise.
run_daemon() {
    local name=$1 m=$2 n=$3 t0 t1 c0 c1 b0 poller line
    local prefix=${RUN_PREFIX:-owntracks/$name}
    shift 3
    start_daemon "$name" "$@"
    sleep 0.5
    D_RSS0_KIB=$(vm VmRSS "$DPID")
    c0=$(cpu_ticks "$DPID")
    wait_stored "$T/$name.db" "$m" >"$T/$name.done" &
    poller=$!
    b0=$(cpu_ticks "$MOSQ_PID")
    t0=$(now_ms)
    line=$(sim "$n" "$m" "$prefix")
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
# run_rates RUNS_FILE: the msgs/s of each run (first field: seconds), one line
run_rates() { while read -r s _; do printf '%s ' "$(rate "$M" "$s")"; done <"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
# round_ratios RUNS_FILE: each round's ratio to the limit of the same round
# (durations: limit seconds / daemon seconds), one per line ("0" for a run
# that did not finish)
round_ratios() {
    paste -d' ' <(awk '{print $1}' "$T/limit.runs") <(awk '{print $1}' "$1") |
        awk '{ if ($2 == "inf" || $2 <= 0) print "0.00";
               else printf "%.2f\n", $1 / $2 }'
}
# min A B of two decimals
dmin() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (a < b ? a : b)}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# ---- the registry for rows 6 and 7, built once with the CLI as operations
# staff would, then copied for each run
FDB="$T/registry.db"
# reg ARGS: the lienwatch CLI on the template database, quiet
reg() { "$BIN/lienwatch" --db "$FDB" --as bench "$@" >/dev/null 2>>"$T/registry.err"; }
# copy_registry DB: a fresh copy of the template (VACUUM INTO: consistent
# even if a WAL were left behind)
copy_registry() {
    rm -f "$1" "$1-wal" "$1-shm"
    sqlite3 "$FDB" "VACUUM INTO '$1'" || fail "cannot copy $FDB to $1"
}
# alert_counts DB: "kind=n ..." of the alerts a run raised, or "none"
alert_counts() {
    local c
    c=$(sqlite3 "file:$1?mode=ro" \
        "SELECT group_concat(kind || '=' || n, ' ') FROM (SELECT kind, count(*) AS n FROM alerts GROUP BY kind)")
    echo "${c:-none}"
}
build_registry() {
    local t0 i id line file kind acct
    t0=$(now_ms)
    reg init-db || fail "init-db failed: $(cat "$T/registry.err")"
    # accounts: one per vehicle, 45 days past due (watched); the other
    # accounts that some fences belong to are current
    {
        echo "account,days_past_due,status"
        for i in $(seq "$VEHICLES"); do printf 'ACC-F%05d,45,overdue\n' "$i"; done
        for i in $(seq "$LAT_K"); do printf 'ACC-L%05d,45,overdue\n' "$i"; done
        for i in $(seq 9); do printf 'ACC-OTHER-%d,0,current\n' "$i"; done
    } >"$T/accounts.csv"
    reg account import "$T/accounts.csv" || fail "account import failed: $(cat "$T/registry.err")"
    "$PY" "$TOOLS/gen_fences.py" --out "$T/fences" --total "$FENCES" \
        --centre "$CENTRE" --exclude "$AWAY,30" >"$T/fences.manifest" ||
        fail "gen_fences.py failed"
    while IFS=$'\t' read -r file kind acct; do
        if [ "$acct" = - ]; then
            reg geofence import "$file" --kind "$kind"
        else
            reg geofence import "$file" --kind "$kind" --account "$acct"
        fi || fail "geofence import $file failed: $(tail -3 "$T/registry.err")"
    done <"$T/fences.manifest"
    # the simulated fleet (lw-sim on owntracks/fx: devices fx/car00001...)
    # and the vehicles of the latency run (lat/v00001...)
    for i in $(seq "$VEHICLES"); do
        id=$(printf '%05d' "$i")
        reg vehicle set "fx/car$id" --account "ACC-F$id" --plate "BF-$id" \
            --vin "WBENCHF0000$id" --description "bench fleet car $i" ||
            fail "vehicle set failed: $(tail -3 "$T/registry.err")"
    done
    for i in $(seq "$LAT_K"); do
        id=$(printf '%05d' "$i")
        reg vehicle set "lat/v$id" --account "ACC-L$id" --plate "BL-$id" \
            --vin "WBENCHL0000$id" ||
            fail "vehicle set failed: $(tail -3 "$T/registry.err")"
    done
    line=$(sqlite3 "file:$FDB?mode=ro" \
        "SELECT (SELECT count(*) FROM geofences) || ' ' || (SELECT count(*) FROM vehicles) || ' ' || (SELECT count(*) FROM accounts)")
    read -r N_FENCES N_VEH N_ACC <<<"$line"
    [ "$N_FENCES" = "$FENCES" ] || fail "$N_FENCES geofences stored, expected $FENCES"
    note "  registry: $N_FENCES geofences, $N_VEH vehicles, $N_ACC accounts, built with the CLI in $(awk -v a="$t0" -v b="$(now_ms)" 'BEGIN {printf "%.1f", (b - a) / 1000}') s"
}
# registry_loaded NAME: the daemon of run NAME logged the whole registry
registry_loaded() {
    grep -q "registry: $FENCES geofences, $N_VEH vehicles" "$T/$1.log"
}

note "bench: $M messages from $VEHICLES simulated vehicles, $RUNS runs of the limit, the batched daemon and the batched daemon with $FENCES fences; broker on 127.0.0.1:$PORT"
build_registry
: >"$T/fence.runs"
: >"$T/limit.runs"
: >"$T/batch.runs"
for r in $(seq "$RUNS"); do
    run_limit "$r"
    note "  run $r: bare subscriber $(rate "$M" "$LIMIT_SECS") msgs/s ($LIMIT_SECS s; lw-sim used $SIM_CPU s CPU)"
    echo "$LIMIT_SECS $LIMIT_CPU $LIMIT_RSS_KIB $BROKER_CPU $SIM_CPU" >>"$T/limit.runs"
    run_daemon "batch$r" "$M" "$VEHICLES"
    note "  run $r: lienwatchd batched $(rate "$M" "$D_SECS") fixes/s stored ($D_SECS s)"
    echo "$D_SECS $D_CPU $D_HWM_KIB $BROKER_CPU $SIM_CPU $D_GOT" >>"$T/batch.runs"
    copy_registry "$T/fence$r.db"
    RUN_PREFIX=owntracks/fx run_daemon "fence$r" "$M" "$VEHICLES"
    registry_loaded "fence$r" ||
        fail "fence$r: lienwatchd did not load the registry: $(grep 'registry:' "$T/fence$r.log" | tail -2)"
    note "  run $r: lienwatchd batched, $VEHICLES watched vehicles, $FENCES fences: $(rate "$M" "$D_SECS") fixes/s stored ($D_SECS s; alerts raised: $(alert_counts "$T/fence$r.db"))"
    echo "$D_SECS $D_CPU $D_HWM_KIB $BROKER_CPU $SIM_CPU $D_GOT" >>"$T/fence.runs"
done
# the median run by duration, with its own CPU and RSS
pick_median() { sort -g "$1" | sed -n "$(( ($(wc -l <"$1") + 1) / 2 ))p"; }
read -r L_SECS L_CPU L_KIB L_BCPU L_SCPU <<<"$(pick_median "$T/limit.runs")"
read -r B_SECS B_CPU B_KIB B_BCPU B_SCPU B_GOT <<<"$(pick_median "$T/batch.runs")"
read -r F_SECS F_CPU F_KIB F_BCPU F_SCPU F_GOT <<<"$(pick_median "$T/fence.runs")"

note "  commit per fix: $CPF_M messages"
run_daemon cpf "$CPF_M" "$VEHICLES" --set store.commit_interval_ms=0
C_SECS=$D_SECS C_CPU=$D_CPU C_KIB=$D_HWM_KIB C_BCPU=$BROKER_CPU C_SCPU=$SIM_CPU C_GOT=$D_GOT

note "  $BIG vehicles, one message each"
run_daemon big "$BIG" "$BIG"
G_SECS=$D_SECS G_CPU=$D_CPU G_KIB=$D_HWM_KIB G_BCPU=$BROKER_CPU G_SCPU=$SIM_CPU G_GOT=$D_GOT
# per vehicle that got a fix in: all of them unless the run did not finish
PER_VEHICLE=$(awk -v a="$D_RSS0_KIB" -v b="$D_RSS1_KIB" -v n="$D_GOT" \
    'BEGIN {printf "%.0f", (n > 0 ? (b - a) * 1024 / n : 0)}')

# ---- backlog drain: M messages queued for an absent consumer, then drained
# drain_fill ID: creates ID's persistent session and has lw-sim publish M
# messages to it (the broker queues them: nobody is connected)
drain_fill() {
    mosquitto_sub -p "$PORT" -i "$1" -c -q 1 -t 'owntracks/+/+' -E ||
        fail "could not create the session $1"
    sim "$VEHICLES" "$M" owntracks/drain >/dev/null
}
# run_drain_limit: sets DR_SECS DR_CPU DR_BCPU
run_drain_limit() {
    local out="$T/drainl.out" t0 b0 line
    drain_fill lw-bench-drain
    b0=$(cpu_ticks "$MOSQ_PID")
    t0=$(now_ms)
    "$BIN/lw-baresub" --port "$PORT" --topic "owntracks/+/+" \
        --client-id lw-bench-drain --count "$M" --timeout "$SCENARIO_TIMEOUT_S" \
        -q >"$out" 2>"$T/drainl.err" || fail "lw-baresub drained only: $(tail -1 "$out")"
    DR_BCPU=$(secs_since "$b0" "$MOSQ_PID")
    end_session lw-bench-drain
    line=$(tail -1 "$out")
    DR_SECS=$(awk -v a="$t0" -v b="$(kv last_ms "$line")" 'BEGIN {printf "%.3f", (b - a) / 1000}')
    DR_CPU=$(kv cpu_s "$line")
}
# run_drain_daemon R: sets DR_SECS DR_CPU DR_BCPU (DR_SECS inf: did not finish)
run_drain_daemon() {
    local name="drain$1" t0 t1 b0 c1 pid
    drain_fill lienwatchd
    b0=$(cpu_ticks "$MOSQ_PID")
    t0=$(now_ms)
    "$BIN/lienwatchd" --db "$T/$name.db" --mqtt-host 127.0.0.1 \
        --mqtt-port "$PORT" >"$T/$name.log" 2>&1 &
    pid=$!
    lw_track "$pid"
    if t1=$(wait_stored "$T/$name.db" "$M"); then
        DR_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1000}')
    else
        DR_SECS=inf
        DNF=$((DNF + 1))
        note "  $name: only ${t1#dnf } of $M fixes stored after $SCENARIO_TIMEOUT_S s"
    fi
    c1=$(cpu_ticks "$pid")
    DR_BCPU=$(secs_since "$b0" "$MOSQ_PID")
    DR_CPU=$(awk -v b="$c1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", b / t}')
    stop_pid "$pid"
    end_session lienwatchd
    [ "$DR_SECS" = inf ] || check_db "$T/$name.db" "$M"
}
note "  backlog drain: $M queued messages, $DRAIN_RUNS runs each"
: >"$T/drainl.runs"
: >"$T/draind.runs"
for r in $(seq "$DRAIN_RUNS"); do
    run_drain_limit
    note "  drain $r: bare subscriber $(rate "$M" "$DR_SECS") msgs/s ($DR_SECS s, $DR_CPU s CPU)"
    echo "$DR_SECS $DR_CPU $DR_BCPU" >>"$T/drainl.runs"
    run_drain_daemon "$r"
    note "  drain $r: lienwatchd $(rate "$M" "$DR_SECS") fixes/s stored ($DR_SECS s, $DR_CPU s CPU)"
    echo "$DR_SECS $DR_CPU $DR_BCPU" >>"$T/draind.runs"
done

# ---- alert latency under background load, on the 10,000-fence registry
LAT_LOAD_S=$(awk -v k="$LAT_K" -v r="$LAT_RATE" 'BEGIN {printf "%d", k / r + 40}')
note "  alert latency: $LAT_K vehicles taken out of their region at ~$LAT_RATE/s, background $LOAD_RATE fixes/s from $VEHICLES watched vehicles"
copy_registry "$T/latency.db"
start_daemon latency
wait_for 10 registry_loaded latency ||
    fail "latency: lienwatchd did not load the registry: $(grep 'registry:' "$T/latency.log" | tail -2)"
c0=$(cpu_ticks "$DPID")
b0=$(cpu_ticks "$MOSQ_PID")
"$BIN/lw-sim" --port "$PORT" -n "$VEHICLES" --rate "$LOAD_RATE" -d "$LAT_LOAD_S" \
    --seed 2 --topic-prefix owntracks/fx --timeout 30 -q >"$T/load.out" 2>"$T/load.err" &
LOAD_PID=$!
lw_track "$LOAD_PID"
sleep 2 # the load is running before the first measured fix
LAT_RC=0
"$PY" "$TOOLS/bench_latency.py" --port "$PORT" --vehicles "$LAT_K" \
    --rate "$LAT_RATE" --prefix lat --home "$CENTRE" --away "$AWAY" \
    --timeout 30 >"$T/latency.out" 2>"$T/latency.err" || LAT_RC=$?
# the load has run through the whole measurement: stop it, let the daemon
# store what it got, and check that it kept up
kill -TERM "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
lw_untrack "$LOAD_PID"
LOAD_LINE=$(tail -1 "$T/load.out")
LOAD_SENT=$(kv acked "$LOAD_LINE")
LOAD_SECS=$(kv seconds "$LOAD_LINE")
LAT_D_CPU=$(secs_since "$c0" "$DPID")
LAT_B_CPU=$(secs_since "$b0" "$MOSQ_PID")
LAT_WANT=$((${LOAD_SENT:-0} + 3 * LAT_K))
if wait_stored "$T/latency.db" "$LAT_WANT" >/dev/null; then
    LAT_KEPT_UP="yes, all $LAT_WANT fixes stored"
else
    LAT_KEPT_UP="NO: fewer than $LAT_WANT fixes stored"
    DNF=$((DNF + 1))
fi
stop_pid "$DPID"
end_session lienwatchd
LAT_LINE=$(tail -1 "$T/latency.out")
[ -n "$LAT_LINE" ] || fail "bench_latency.py printed nothing: $(tail -5 "$T/latency.err")"
LAT_ALERTS_DB=$(alert_counts "$T/latency.db")
note "  alert latency: $LAT_LINE"

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
echo "QoS 1, $VEHICLES vehicles, median of $RUNS runs for the first three rows; rates from first publish to last received / last committed fix"
echo
echo "| scenario | messages | seconds | msgs/s | x limit | daemon CPU s | peak RSS MiB | broker CPU s | lw-sim CPU s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| bare QoS 1 subscriber (limit) | $M | $L_SECS | $L_RATE | 1.00 | ($L_CPU) | ($(mib "$L_KIB")) | $L_BCPU | $L_SCPU |"
row "lienwatchd, batched commits (default)" "$M" "$B_SECS" "$B_CPU" "$B_KIB" "$B_BCPU" "$B_SCPU" "$B_GOT"
row "lienwatchd, batched, with $VEHICLES watched vehicles + $FENCES fences" "$M" "$F_SECS" "$F_CPU" "$F_KIB" "$F_BCPU" "$F_SCPU" "$F_GOT"
row "lienwatchd, commit per fix" "$CPF_M" "$C_SECS" "$C_CPU" "$C_KIB" "$C_BCPU" "$C_SCPU" "$C_GOT"
row "lienwatchd, $BIG vehicles x 1 fix" "$BIG" "$G_SECS" "$G_CPU" "$G_KIB" "$G_BCPU" "$G_SCPU" "$G_GOT"
echo "(in brackets: the bare subscriber's own CPU and peak RSS)"
echo
echo "runs (msgs/s): limit $(run_rates "$T/limit.runs")| batched $(run_rates "$T/batch.runs")| with fences $(run_rates "$T/fence.runs")"
B_ROUNDS=$(round_ratios "$T/batch.runs" | tr '\n' ' ')
F_ROUNDS=$(round_ratios "$T/fence.runs" | tr '\n' ' ')
B_PAIRED=$(round_ratios "$T/batch.runs" | median)
F_PAIRED=$(round_ratios "$T/fence.runs" | median)
echo "each round's ratio to its own limit run: batched ${B_ROUNDS}(median $B_PAIRED) | with fences ${F_ROUNDS}(median $F_PAIRED)"
echo "RSS per vehicle at $BIG vehicles: $PER_VEHICLE bytes (daemon RSS $(mib "$D_RSS0_KIB") MiB idle -> $(mib "$D_RSS1_KIB") MiB after one fix from each of $D_GOT)"
echo "reference: OwnTracks Recorder stores 18 fixes/s in its default configuration, ~440/s tuned"
echo "with fences: every fix of the $VEHICLES vehicles (all watched: accounts 45 days past due) goes through the"
echo "  alert engine against $FENCES fences: a 256-vertex keep_in region for every vehicle,"
echo "  $(( FENCES / 10 - 1 )) keep_out fences of other accounts where the fleet drives (found by the index, tested, not"
echo "  applicable) and $(( FENCES - FENCES / 10 )) keep_out fences for every vehicle over Portugal, Spain and Europe;"
echo "  fences generated by tools/gen_fences.py. Alerts raised: $(alert_counts "$T/fence1.db") (run 1)"
echo
F_VS_B=$(ratio "$(rate "$M" "$F_SECS")" "$B_RATE")
echo "alert latency: geofence_exit, from the publish of the confirming fix (the 2nd far fix: confirm_fixes = 2)"
echo "to the alert's arrival at a QoS 1 subscriber on lienwatch/v1/alert/#, same clock; $LAT_K watched vehicles taken"
echo "from Porto to Salamanca at ~$LAT_RATE/s, with $FENCES fences loaded and background load from lw-sim"
echo "(${LOAD_SENT:-?} fixes in ${LOAD_SECS:-?} s from $VEHICLES watched vehicles). Includes both broker hops, the"
echo "daemon's commit batching (commit_interval_ms = 50: the engine sees a fix once its batch is committed),"
echo "the alert's own transaction and its QoS 1 publish."
echo
echo "| alerts | p50 ms | p90 ms | p99 ms | max ms | mean ms | missing | daemon CPU s | broker CPU s | background fixes/s |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| $(kv alerts "$LAT_LINE")/$(kv expected "$LAT_LINE") | $(kv p50_ms "$LAT_LINE") | $(kv p90_ms "$LAT_LINE") | $(kv p99_ms "$LAT_LINE") | $(kv max_ms "$LAT_LINE") | $(kv mean_ms "$LAT_LINE") | $(kv missing "$LAT_LINE") | $LAT_D_CPU | $LAT_B_CPU | $(awk -v n="${LOAD_SENT:-0}" -v s="${LOAD_SECS:-0}" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}') |"
echo "daemon kept up with the load: $LAT_KEPT_UP; alerts stored: $LAT_ALERTS_DB;"
echo "early/duplicate/other alert messages: $(kv early "$LAT_LINE")/$(kv duplicates "$LAT_LINE")/$(kv other "$LAT_LINE")"
echo
read -r DL_SECS DL_CPU DL_BCPU <<<"$(pick_median "$T/drainl.runs")"
read -r DD_SECS DD_CPU DD_BCPU <<<"$(pick_median "$T/draind.runs")"
DL_RATE=$(rate "$M" "$DL_SECS")
DD_RATE=$(rate "$M" "$DD_SECS")
# us_per CPU_S N: microseconds of CPU per message
us_per() { awk -v c="$1" -v n="$2" 'BEGIN {printf "%.1f", c * 1e6 / n}'; }
echo "backlog drain: $M messages queued while the consumer was away, then drained with only the broker"
echo "beside it (no publisher); from the consumer's start to the last message received / fix committed;"
echo "median of $DRAIN_RUNS runs. This is each consumer's own ceiling on this machine."
echo
echo "| consumer | msgs/s | x bare subscriber | consumer CPU s | CPU us/msg | broker CPU s |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| bare QoS 1 subscriber | $DL_RATE | 1.00 | $DL_CPU | $(us_per "$DL_CPU" "$M") | $DL_BCPU |"
echo "| lienwatchd, batched commits | $DD_RATE | $(ratio "$DD_RATE" "$DL_RATE") | $DD_CPU | $(us_per "$DD_CPU" "$M") | $DD_BCPU |"
echo "runs (msgs/s): bare subscriber $(run_rates "$T/drainl.runs")| lienwatchd $(run_rates "$T/draind.runs")"
echo
F_RATIO=$(ratio "$(rate "$M" "$F_SECS")" "$L_RATE")
# verdict LABEL RATIO_OF_MEDIANS MEDIAN_OF_ROUNDS [EXTRA]: met only when the
# lower of the two estimates reaches the target
verdict() {
    local low
    low=$(dmin "$2" "$3")
    if awk -v r="$low" -v t="$TARGET_RATIO" 'BEGIN {exit !(r >= t)}'; then
        echo "target: $1: MET (${2}x from the medians, ${3}x the median round${4:+; $4})"
    else
        echo "target: $1: NOT MET (${2}x from the medians, ${3}x the median round${4:+; $4})"
    fi
}
verdict "ingest >= ${TARGET_RATIO}x bare subscriber with batching" "$B_RATIO" "$B_PAIRED"
verdict "the same with $FENCES fences and watched vehicles" "$F_RATIO" "$F_PAIRED" "${F_VS_B}x the rate without them"
echo "alert latency: no number is set in issue 3 (\"at once\"); measured p50 $(kv p50_ms "$LAT_LINE") ms, p99 $(kv p99_ms "$LAT_LINE") ms"
if [ "$LAT_RC" != 0 ]; then
    echo "alert latency run FAILED: $LAT_LINE"
    DNF=$((DNF + 1))
fi
if [ "$DNF" -gt 0 ]; then
    echo "$DNF scenario(s) did not finish within $SCENARIO_TIMEOUT_S s or failed (see above)"
    exit 1
fi
