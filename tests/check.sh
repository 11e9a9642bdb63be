#!/bin/bash
# The whole test suite, as `make check` and CI run it:
#   1. gcc build (-Werror), unit + integration tests
#   2. clang build with ASan+UBSan, the same unit + integration tests
#   3. unit tests and the daemon integration tests under valgrind
#   4. each libFuzzer target for a short run (FUZZ_SECONDS, default 20)
# Integration tests run in parallel (tests/run-integration.sh): JOBS at a
# time for the gcc and ASan builds (default: the number of CPUs),
# VALGRIND_JOBS under valgrind (default 2, see below).
# Prints one summary line per stage with its time, and a final
# "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
# valgrind slows a daemon about 20x and the tests allow for that (SLOW);
# two of them at once still fit the allowance on two cores, more do not
VALGRIND_JOBS=${VALGRIND_JOBS:-2}
stages_pass=0 stages_fail=0
stage() {
    local name=$1 t0=$EPOCHREALTIME secs
    shift
    echo "=== $name"
    if "$@"; then stages_pass=$((stages_pass + 1)); secs=ok
    else stages_fail=$((stages_fail + 1)); secs=FAILED; fi
    secs="$secs, $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}') s"
    echo "=== $name: $secs"
}
build_gcc() { make -s -j"$JOBS" CC=gcc all; }
build_asan() {
    make -s -j"$JOBS" CC=clang BUILD=build/asan SANITIZER=address,undefined \
        CFLAGS="-O1 -g" all
}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

t_start=$EPOCHREALTIME
stage "build (gcc)" build_gcc
stage "unit (gcc)" tests/run-unit.sh build
stage "integration (gcc)" tests/run-integration.sh -j "$JOBS" build
stage "build (clang, ASan+UBSan)" build_asan
stage "unit (ASan+UBSan)" tests/run-unit.sh build/asan
stage "integration (ASan+UBSan)" tests/run-integration.sh -j "$JOBS" build/asan
stage "unit (valgrind)" env LW_VALGRIND=1 tests/run-unit.sh build
# the daemon-centred tests; the others exercise tools and scripts
stage "integration (valgrind)" env LW_VALGRIND=1 \
    ONLY="${VALGRIND_ONLY:-ingest|alerts|daemon_config|cli|notify|mqtt_connect}" \
    tests/run-integration.sh -j "$VALGRIND_JOBS" build
stage "fuzz (short)" make -s fuzz FUZZ_SECONDS=${FUZZ_SECONDS:-20}
echo "check: $stages_pass passed, $stages_fail failed in $(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}') s"
[ "$stages_fail" -eq 0 ]
