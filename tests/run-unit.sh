#!/bin/bash
# Runs every cmocka unit test binary in BUILD/tests (default build).
#
#   tests/run-unit.sh [-j N] [BUILD]
#
# N binaries at a time (-j N, or JOBS=N; default: the number of CPUs), each
# one's output printed in one piece when it is done. LW_VALGRIND=1 runs each
# under valgrind (errors and definite leaks fail).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
BUILD=
while [ $# -gt 0 ]; do
    case $1 in
    -j) JOBS=${2:-}; shift 2 || break ;;
    -j*) JOBS=${1#-j}; shift ;;
    *) BUILD=$1; shift ;;
    esac
done
BUILD=${BUILD:-build}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "run-unit: -j wants a positive number, not '$JOBS'" >&2; exit 2; }
export LW_DATA_DIR=${LW_DATA_DIR:-$ROOT/../shared/data}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/lw-unit.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
pass=0 fail=0
declare -A name_of=()

run_one() {
    local t=$1
    if [ "${LW_VALGRIND:-0}" = 1 ]; then
        cd "$ROOT" && exec valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect "$t"
    fi
    cd "$ROOT" && exec "$t"
}

reap() {
    local pid rc name
    wait -n -p pid "${!name_of[@]}"
    rc=$?
    [ -n "${pid:-}" ] || return 0
    name=${name_of[$pid]}
    unset "name_of[$pid]"
    cat "$OUT/$name"
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1))
    else
        echo "unit: $name FAILED" >&2
        fail=$((fail + 1))
    fi
}

for t in "$ROOT/$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    while [ "${#name_of[@]}" -ge "$JOBS" ]; do reap; done
    name=$(basename "$t")
    run_one "$t" >"$OUT/$name" 2>&1 </dev/null &
    name_of[$!]=$name
done
while [ "${#name_of[@]}" -gt 0 ]; do reap; done
echo "unit ($BUILD${LW_VALGRIND:+, valgrind}): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
