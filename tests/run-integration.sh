#!/bin/bash
# Runs every tests/integration/test_*.sh against binaries in BUILD/bin.
# A test exits 0 (pass), 77 (skipped, it says why) or anything else (fail).
# ONLY=REGEX runs the matching tests only (e.g. ONLY='ingest|alerts').
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BUILD LW_DATA_DIR=${LW_DATA_DIR:-$ROOT/../shared/data}
# each test's output, kept for a look after a failure
LOGS=$ROOT/$BUILD/test-logs
mkdir -p "$LOGS"
pass=0 fail=0 skipped=0 failed=""
for t in "$ROOT"/tests/integration/test_*.sh; do
    name=$(basename "$t" .sh)
    [[ $name =~ ${ONLY:-.} ]] || continue
    start=$(date +%s)
    bash "$t" > "$LOGS/$name.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    case $rc in
    0) pass=$((pass + 1)); echo "  ok    $name (${secs}s)" ;;
    77) skipped=$((skipped + 1)); echo "  skip  $name: $(grep SKIP "$LOGS/$name.log" | tail -1)" ;;
    *) fail=$((fail + 1)); failed="$failed $name"
       echo "  FAIL  $name (rc $rc, ${secs}s); last lines of its log:"
       tail -n 30 "$LOGS/$name.log" | sed 's/^/        /' ;;
    esac
done
echo "integration ($BUILD): $pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
