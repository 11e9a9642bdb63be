#!/bin/bash
# test_daemon_help: `lienwatchd --help` is short, fits 80 columns, points at
# the manual, and every option it lists is documented in lienwatchd(8),
# which has the exit statuses; `-h` and `--help` exit 0 on stdout, a bad
# option exits 2 with a hint on stderr.
source "$(dirname "$0")/../lib.sh"
lw_setup
D="$BIN/lienwatchd"
MAN="$ROOT/docs/man/lienwatchd.8"
[ -x "$D" ] || fail "$D not built"
"$D" --help >"$T/help" 2>"$T/err" || fail "--help exited $?"
[ -s "$T/err" ] && fail "--help wrote to stderr: $(cat "$T/err")"
"$D" -h | cmp -s - "$T/help" || fail "-h differs from --help"
[ "$(wc -l <"$T/help")" -le 30 ] || fail "--help is $(wc -l <"$T/help") lines, not short"
awk 'length > 79 { print; bad = 1 } END { exit bad }' "$T/help" ||
    fail "--help has lines over 79 columns"
grep -q "lienwatchd(8)" "$T/help" || fail "--help does not point at lienwatchd(8)"
opts=$(grep -oE -- '--[a-z][a-z-]+' "$T/help" | sort -u)
[ "$(echo "$opts" | wc -l)" -ge 10 ] || fail "--help lists too few options: $opts"
for o in $opts; do
    grep -qF -- "$(echo "$o" | sed 's/-/\\-/g')" "$MAN" ||
        fail "$o is in --help but not in $MAN"
done
grep -q '^\.SH EXIT STATUS' "$MAN" || fail "no EXIT STATUS in the manual"
grep -q '^\.B 78$' "$MAN" || fail "exit status 78 is not in the manual"
rc=0
"$D" --no-such-option >/dev/null 2>"$T/bad" || rc=$?
[ "$rc" = 2 ] || fail "a bad option exited $rc, not 2"
grep -q "Try 'lienwatchd --help'" "$T/bad" || fail "no hint after a bad option"
