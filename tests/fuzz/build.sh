#!/bin/bash
# tests/fuzz/build.sh - builds every tests/fuzz/fuzz_*.c as a libFuzzer
# binary build/fuzz/fuzz_<name>, with ASan and UBSan.
#
# The lib/ sources a target needs are compiled into it directly (with the
# fuzzer's coverage instrumentation), not taken from the gcc archive. Needs
# clang with libFuzzer (Debian: clang; its compiler-rt ships libFuzzer).
# FUZZ_CC overrides the compiler.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
CC=${FUZZ_CC:-clang}
OUT=build/fuzz
# the pure decoding core; nothing here touches SQLite or the config parser
LIB_SRC=(lib/decode.c lib/timeutil.c lib/err.c)
CFLAGS=(-std=c17 -D_GNU_SOURCE -Iinclude -Itests/fuzz -g -O1
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -fno-omit-frame-pointer -Wall -Wextra -Werror)

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz-build: $CC not found (apt-get install clang)" >&2
    exit 1
fi
if ! PKG=$(pkg-config --cflags --libs jansson sqlite3 inih); then
    echo "fuzz-build: pkg-config cannot find jansson, sqlite3 or inih" >&2
    exit 1
fi
mkdir -p "$OUT"
n=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    # shellcheck disable=SC2086  # PKG is a list of flags
    "$CC" "${CFLAGS[@]}" -o "$OUT/$name" "$src" "${LIB_SRC[@]}" $PKG -lm
    echo "  FUZZ $OUT/$name"
    n=$((n + 1))
done
echo "fuzz-build: $n targets in $OUT"
