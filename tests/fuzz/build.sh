#!/bin/bash
# tests/fuzz/build.sh - builds every tests/fuzz/fuzz_*.c as a libFuzzer
# binary build/fuzz/fuzz_<name>, with ASan and UBSan.
#
# Every lib/*.c is compiled once with the fuzzer's coverage instrumentation
# into build/fuzz/obj/ (again only when it or a header changed) and archived
# as build/fuzz/liblienwatch-fuzz.a; each target links what it uses from
# it, so a new target or a new lib/ module needs no change here. Needs
# clang with libFuzzer (Debian: clang; its compiler-rt ships libFuzzer).
# FUZZ_CC overrides the compiler.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
CC=${FUZZ_CC:-clang}
OUT=build/fuzz
OBJ=$OUT/obj
ARCHIVE=$OUT/liblienwatch-fuzz.a
WARN=(-Wall -Wextra -Werror)
COMMON=(-std=c17 -D_GNU_SOURCE -Iinclude -g -O1 -fno-sanitize-recover=all
        -fno-omit-frame-pointer)

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz-build: $CC not found (apt-get install clang)" >&2
    exit 1
fi
if ! PKG_CFLAGS=$(pkg-config --cflags jansson sqlite3 inih geos libsodium) ||
    ! PKG_LIBS=$(pkg-config --libs jansson sqlite3 inih geos libsodium); then
    echo "fuzz-build: pkg-config cannot find jansson, sqlite3, inih, geos or libsodium" >&2
    exit 1
fi
mkdir -p "$OBJ"
# the core, instrumented; rebuilt when a source or any header is newer
newest_header=$(ls -t include/lienwatch/*.h lib/*.h 2>/dev/null | head -1)
rebuilt=0
for src in lib/*.c; do
    o=$OBJ/$(basename "$src" .c).o
    if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ "$newest_header" -nt "$o" ]; then
        # shellcheck disable=SC2086  # PKG_CFLAGS is a list of flags
        "$CC" "${COMMON[@]}" "${WARN[@]}" \
            -fsanitize=fuzzer-no-link,address,undefined $PKG_CFLAGS \
            -c "$src" -o "$o"
        rebuilt=$((rebuilt + 1))
    fi
done
# objects of sources that are gone must not linger in the archive
for o in "$OBJ"/*.o; do
    [ -f "lib/$(basename "$o" .o).c" ] || { rm -f "$o"; rebuilt=$((rebuilt + 1)); }
done
if [ "$rebuilt" -gt 0 ] || [ ! -f "$ARCHIVE" ]; then
    rm -f "$ARCHIVE"
    ar rcs "$ARCHIVE" "$OBJ"/*.o
fi
n=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    # shellcheck disable=SC2086  # PKG_* are lists of flags
    "$CC" "${COMMON[@]}" "${WARN[@]}" -Itests/fuzz \
        -fsanitize=fuzzer,address,undefined $PKG_CFLAGS \
        -o "$OUT/$name" "$src" "$ARCHIVE" $PKG_LIBS -lm
    echo "  FUZZ $OUT/$name"
    n=$((n + 1))
done
echo "fuzz-build: $n targets in $OUT"
