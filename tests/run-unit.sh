#!/bin/bash
# Runs every cmocka unit test binary in BUILD/tests (default build).
# LW_VALGRIND=1 runs each under valgrind (errors and definite leaks fail).
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export LW_DATA_DIR=${LW_DATA_DIR:-$ROOT/../shared/data}
pass=0 fail=0
for t in "$ROOT/$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if [ "${LW_VALGRIND:-0}" = 1 ]; then
        cmd=(valgrind -q --error-exitcode=99 --leak-check=full
             --errors-for-leak-kinds=definite,indirect "$t")
    else
        cmd=("$t")
    fi
    if (cd "$ROOT" && "${cmd[@]}"); then
        pass=$((pass + 1))
    else
        echo "unit: $name FAILED" >&2
        fail=$((fail + 1))
    fi
done
echo "unit ($BUILD${LW_VALGRIND:+, valgrind}): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
