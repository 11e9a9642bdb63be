#!/bin/bash
# Runs every tests/integration/test_*.sh against binaries in BUILD/bin,
# several at once.
#
#   tests/run-integration.sh [-j N | --jobs N] [BUILD]
#
# A test exits 0 (pass), 77 (skipped, it says why) or anything else (fail).
# Tests are independent: each works in its own temporary directory and on
# loopback ports claimed for it (tests/lib.sh, tests/portclaim.py), so N of
# them run in parallel (-j N, or JOBS=N; default: the number of CPUs; -j 1
# runs them one after the other). The longest ones start first, by the
# times of the previous run. Each result is printed as its test finishes,
# with its wall and CPU time; a failure with the end of its log.
#
# ONLY=REGEX runs the matching tests only (e.g. ONLY='ingest|alerts').
# Each test's output is kept in BUILD/test-logs/NAME.log (BUILD/
# test-logs-valgrind/ under LW_VALGRIND=1), with the durations of the last
# run in durations there.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
usage() {
    echo "usage: tests/run-integration.sh [-j N | --jobs N] [BUILD]" >&2
    exit 2
}
BUILD=
while [ $# -gt 0 ]; do
    case $1 in
    -j | --jobs) [ $# -ge 2 ] || usage; JOBS=$2; shift 2 ;;
    -j*) JOBS=${1#-j}; shift ;;
    --jobs=*) JOBS=${1#--jobs=}; shift ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) usage ;;
    *) [ -z "$BUILD" ] || usage; BUILD=$1; shift ;;
    esac
done
BUILD=${BUILD:-build}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "run-integration: -j wants a positive number, not '$JOBS'" >&2; exit 2; }
export BUILD LW_DATA_DIR=${LW_DATA_DIR:-$ROOT/../shared/data}
PY=/usr/bin/python3

# each test's output, kept for a look after a failure
if [ "${LW_VALGRIND:-0}" = 1 ]; then LOGS=$ROOT/$BUILD/test-logs-valgrind
else LOGS=$ROOT/$BUILD/test-logs; fi
mkdir -p "$LOGS"
# durations of earlier runs (name seconds), to start the longest first; a
# fresh build directory borrows the ones of build/
DURATIONS=$LOGS/durations
prev=$DURATIONS
[ -s "$prev" ] || prev=$ROOT/build/test-logs/durations
declare -A last=()
if [ -s "$prev" ]; then
    while read -r n s; do last[$n]=$s; done <"$prev"
fi

tests=()
for t in "$ROOT"/tests/integration/test_*.sh; do
    name=$(basename "$t" .sh)
    [[ $name =~ ${ONLY:-.} ]] || continue
    # unknown ones first (they may be long), then by last duration, longest first
    printf '%s %s\n' "${last[$name]:-999999}" "$t"
done | sort -k1,1gr -k2,2 >"$LOGS/.order"
while read -r _ t; do tests+=("$t"); done <"$LOGS/.order"
rm -f "$LOGS/.order"
[ "${#tests[@]}" -gt 0 ] || { echo "integration ($BUILD): no test matches ONLY='${ONLY:-}'"; exit 1; }
[ "$JOBS" -le "${#tests[@]}" ] || JOBS=${#tests[@]}
echo "integration ($BUILD): ${#tests[@]} tests, $JOBS at a time; logs in ${LOGS#"$ROOT"/}/"

declare -A name_of=() start_of=()
pass=0 fail=0 skipped=0 failed=""
results=() # "seconds name" of every test passed

launch() {
    local t=$1 name
    name=$(basename "$t" .sh)
    # run_one.py reaps whatever the test leaves behind and reports the CPU
    # time of all of it
    "$PY" "$ROOT/tests/run_one.py" "$LOGS/$name.cpu" bash "$t" \
        >"$LOGS/$name.log" 2>&1 </dev/null &
    name_of[$!]=$name
    start_of[$!]=$EPOCHREALTIME
}

# reap: waits for one test to finish and prints its result
reap() {
    local pid rc name secs cpu=? left= line
    wait -n -p pid "${!name_of[@]}"
    rc=$?
    [ -n "${pid:-}" ] || return 0 # interrupted by a signal
    name=${name_of[$pid]}
    secs=$(awk -v a="${start_of[$pid]}" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
    unset "name_of[$pid]" "start_of[$pid]"
    if [ -s "$LOGS/$name.cpu" ]; then
        line=$(cat "$LOGS/$name.cpu")
        cpu=$(sed -n 's/.*cpu_s=\([^ ]*\).*/\1/p' <<<"$line")
        left=$(sed -n 's/.*leftover=//p' <<<"$line")
    fi
    rm -f "$LOGS/$name.cpu"
    case $rc in
    0) pass=$((pass + 1)); results+=("$secs $name")
       echo "  ok    $name (${secs}s, CPU ${cpu}s)" ;;
    77) skipped=$((skipped + 1)); echo "  skip  $name: $(grep SKIP "$LOGS/$name.log" | tail -1)" ;;
    *) fail=$((fail + 1)); failed="$failed $name"
       echo "  FAIL  $name (rc $rc, ${secs}s); last lines of ${LOGS#"$ROOT"/}/$name.log:"
       tail -n 30 "$LOGS/$name.log" | sed 's/^/        /' ;;
    esac
    [ -z "$left" ] || echo "  WARN  $name left processes running (killed): $left"
}

# Ctrl-C or SIGTERM: stop the running tests (SIGTERM: their traps clean up)
# and wait for them. Background jobs ignore SIGINT, so it is passed on here.
stop_all() {
    trap '' INT TERM
    echo "integration: interrupted, stopping:${name_of[*]:+ ${name_of[*]}}" >&2
    [ "${#name_of[@]}" -eq 0 ] || kill -TERM "${!name_of[@]}" 2>/dev/null
    wait
    exit 130
}
trap stop_all INT TERM

t0=$EPOCHREALTIME
for t in "${tests[@]}"; do
    while [ "${#name_of[@]}" -ge "$JOBS" ]; do reap; done
    launch "$t"
done
while [ "${#name_of[@]}" -gt 0 ]; do reap; done
wall=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}')

# keep the durations of tests not run (or not passed) this time
{
    for n in "${!last[@]}"; do
        [ -e "$ROOT/tests/integration/$n.sh" ] && printf '%s %s\n' "$n" "${last[$n]}"
    done
    for r in "${results[@]}"; do printf '%s %s\n' "${r#* }" "${r%% *}"; done
} | awk '{d[$1] = $2} END {for (n in d) print n, d[n]}' | sort >"$DURATIONS.tmp" &&
    mv "$DURATIONS.tmp" "$DURATIONS"

echo "integration ($BUILD): $pass passed, $fail failed, $skipped skipped in ${wall}s ($JOBS at a time)"
if [ "${#results[@]}" -gt 1 ]; then
    printf '%s\n' "${results[@]}" | sort -gr | head -5 |
        awk '{s = s sep $2 " " $1 "s"; sep = ", "} END {print "slowest: " s}'
fi
[ "$fail" -eq 0 ] || echo "failed:$failed"
[ "$fail" -eq 0 ]
