#!/bin/bash
# The whole test suite, as `make check` and CI run it:
#   1. gcc build (-Werror), unit + integration tests
#   2. clang build with ASan+UBSan, the same unit + integration tests
#   3. unit tests and the daemon integration tests under valgrind
#   4. each libFuzzer target for a short run (FUZZ_SECONDS, default 20)
# Prints one summary line per stage and a final "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
JOBS=$(nproc 2>/dev/null || echo 2)
stages_pass=0 stages_fail=0
stage() {
    local name=$1; shift
    echo "=== $name"
    if "$@"; then stages_pass=$((stages_pass + 1))
    else stages_fail=$((stages_fail + 1)); echo "=== $name FAILED"; fi
}
build_gcc() { make -s -j"$JOBS" CC=gcc all; }
build_asan() {
    make -s -j"$JOBS" CC=clang BUILD=build/asan SANITIZER=address,undefined \
        CFLAGS="-O1 -g" all
}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

stage "build (gcc)" build_gcc
stage "unit (gcc)" tests/run-unit.sh build
stage "integration (gcc)" tests/run-integration.sh build
stage "build (clang, ASan+UBSan)" build_asan
stage "unit (ASan+UBSan)" tests/run-unit.sh build/asan
stage "integration (ASan+UBSan)" tests/run-integration.sh build/asan
stage "unit (valgrind)" env LW_VALGRIND=1 tests/run-unit.sh build
# the daemon-centred tests; the others exercise tools and scripts
stage "integration (valgrind)" env LW_VALGRIND=1 \
    ONLY="${VALGRIND_ONLY:-ingest|alerts|daemon_config|cli|notify}" \
    tests/run-integration.sh build
stage "fuzz (short)" make -s fuzz FUZZ_SECONDS=${FUZZ_SECONDS:-20}
echo "check: $stages_pass passed, $stages_fail failed"
[ "$stages_fail" -eq 0 ]
