# tests/lib.sh - shared shell helpers for integration tests. Source it.
#
# Conventions:
#   - each tests/integration/test_*.sh is run by tests/run-integration.sh with
#     BUILD set (build or build/asan) and LW_DATA_DIR set (../shared/data by
#     default); exit 0 = pass, 77 = skipped (say why first), else fail;
#   - servers are started on loopback ports picked by free_port (claimed for
#     the test, so tests can run in parallel) and stopped by PID in the EXIT
#     trap set by lw_setup;
#   - everything a test writes goes under $T (a fresh temp dir).
set -eu

: "${BUILD:=build}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/$BUILD/bin"
: "${LW_DATA_DIR:=$ROOT/../shared/data}"
PY=/usr/bin/python3
LW_PIDS=""

say() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
skip() { say "SKIP: $*"; exit 77; }

need_data() {
    [ -d "$LW_DATA_DIR" ] || skip "shared data not found at $LW_DATA_DIR (set LW_DATA_DIR)"
}

# Kills every PID registered with lw_track, then removes $T unless KEEP=1.
lw_cleanup() {
    local p
    # only the test's own shell cleans up, never a subshell that inherited
    # the trap (a background job whose exec failed, for instance)
    [ "$BASHPID" = "$LW_MAIN_PID" ] || return 0
    for p in $LW_PIDS; do
        kill "$p" 2>/dev/null || true
    done
    for p in $LW_PIDS; do
        # wait up to 5 s, then SIGKILL
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    release_ports
    if [ "${KEEP:-0}" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
}

lw_setup() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/lw-test.XXXXXX")
    LW_MAIN_PID=$BASHPID
    trap lw_cleanup EXIT
    trap 'exit 130' INT TERM
}

lw_track() { LW_PIDS="$LW_PIDS $1"; }
lw_untrack() { LW_PIDS=$(echo "$LW_PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' '); }

# Prints a free TCP port on 127.0.0.1, claimed for this script until
# lw_cleanup (tests run in parallel: see tests/portclaim.py). The claim is
# the script's ($$ is the same in a $(...) subshell), so a port whose server
# a test stops and starts again stays its own meanwhile.
free_port() {
    $PY "$ROOT/tests/portclaim.py" claim "$$"
}

# Drops the claims free_port made for this script.
release_ports() {
    local d=${LW_PORT_DIR:-/tmp/lienwatch-ports} f o
    for f in "$d"/[0-9]*; do
        [ -f "$f" ] || continue
        read -r o 2>/dev/null <"$f" || o=
        if [ "$o" = "$$" ]; then rm -f "$f"; fi
    done
    return 0
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
    local limit=$1; shift
    local n=$((limit * 10))
    while [ $n -gt 0 ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1; n=$((n - 1))
    done
    return 1
}

# log_has_more FILE PATTERN N: true when PATTERN occurs more than N times
# (for logs appended by several runs of a daemon: wait for the new line).
log_has_more() { [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -gt "$3" ]; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_mosquitto PORT [EXTRA_CONF_LINES]: private broker with persistence in
# $T/mosq-PORT (survives restarts on the same port). Sets MOSQ_PID.
start_mosquitto() {
    local port=$1 extra=${2:-}
    local dir="$T/mosq-$port"
    mkdir -p "$dir"
    cat > "$dir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/
autosave_interval 1
max_queued_messages 1000000
max_inflight_messages 0
user $(id -un)
log_dest file $dir/mosquitto.log
log_type error
log_type warning
log_type notice
$extra
CONF
    mosquitto -c "$dir/mosquitto.conf" >>"$dir/stdout.log" 2>&1 &
    MOSQ_PID=$!
    lw_track "$MOSQ_PID"
    wait_for 10 port_open "$port" || fail "mosquitto did not start on $port (see $dir/mosquitto.log)"
}

# stop_checked PID WHAT: SIGTERM, wait, and fail unless it exited 0 (under
# valgrind, 99 means memory errors or leaks).
stop_checked() {
    local rc=0
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" || rc=$?
    lw_untrack "$1"
    [ "$rc" -eq 0 ] || fail "$2 exited $rc after SIGTERM"
}

# stop_pid PID: SIGTERM and wait until gone.
stop_pid() {
    kill "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    lw_untrack "$1"
}

# Runs a command under valgrind when LW_VALGRIND=1 (used for the daemon).
# It execs, so "lw_wrap prog & pid=$!" gives the program's own PID.
lw_wrap() {
    if [ "${LW_VALGRIND:-0}" = 1 ]; then
        exec valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect "$@"
    else
        exec "$@"
    fi
}
