#!/bin/sh
# build-aux/gen-conf-man.sh - regenerate the KEYS section of lienwatchd.conf(5)
# from the daemon's own example file, so the page documents every key of
# lib/config.c's table with its default and its documentation line.
#
#   build-aux/gen-conf-man.sh [LIENWATCHD [PAGE]]     rewrite PAGE in place
#   build-aux/gen-conf-man.sh --check [LIENWATCHD [PAGE]]
#                                   exit 1 (and show a diff) if PAGE is stale
#
# LIENWATCHD defaults to build/bin/lienwatchd, PAGE to
# docs/man/lienwatchd.conf.5. The generated text sits between the lines
# '.\" BEGIN KEYS' and '.\" END KEYS' of PAGE; the rest is written by hand.
# The output is committed, so building the man page needs no daemon.
set -eu

check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DAEMON=${1:-$ROOT/build/bin/lienwatchd}
PAGE=${2:-$ROOT/docs/man/lienwatchd.conf.5}

[ -x "$DAEMON" ] || { echo "gen-conf-man: $DAEMON not built" >&2; exit 1; }
grep -q '^\.\\" BEGIN KEYS' "$PAGE" && grep -q '^\.\\" END KEYS' "$PAGE" ||
    { echo "gen-conf-man: $PAGE lacks the BEGIN KEYS/END KEYS markers" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$DAEMON" --dump-config > "$tmp/dump"

# The example file is: a header comment, then per section "[name]" and per
# key its documentation as '#' lines followed by "key = default" (possibly
# itself commented out as "# key = default" or "#key = default").
awk '
function esc(s) {
    gsub(/\\/, "\\e", s)
    gsub(/-/, "\\-", s)
    return s
}
# A text line must not start with a control character.
function text(s) {
    s = esc(s)
    if (s ~ /^[.\047]/) s = "\\&" s
    return s
}
function flush_key(key, val) {
    print ".TP"
    if (val == "")
        print "\\fB" esc(key) "\\fR = (empty)"
    else
        print "\\fB" esc(key) "\\fR = \\fI" esc(val) "\\fR"
    if (doc != "") print text(doc)
    doc = ""
}
BEGIN { section = ""; doc = ""; header = 1 }
/^\[[a-z_]+\][[:space:]]*$/ {
    header = 0
    section = $0; sub(/^\[/, "", section); sub(/\][[:space:]]*$/, "", section)
    print ".SS \"[" section "]\""
    doc = ""
    next
}
header { next }
/^[[:space:]]*$/ { doc = ""; next }
/^[#;]?[[:space:]]*[a-z][a-z0-9_]*[[:space:]]*=/ {
    line = $0
    sub(/^[#;]?[[:space:]]*/, "", line)
    key = line; sub(/[[:space:]]*=.*$/, "", key)
    val = line; sub(/^[^=]*=[[:space:]]*/, "", val); sub(/[[:space:]]+$/, "", val)
    flush_key(key, val)
    next
}
/^[#;]/ {
    line = $0; sub(/^[#;][[:space:]]?/, "", line)
    doc = (doc == "") ? line : doc " " line
    next
}
{ print "gen-conf-man: cannot parse: " $0 > "/dev/stderr"; exit 1 }
' "$tmp/dump" > "$tmp/keys"

[ -s "$tmp/keys" ] || { echo "gen-conf-man: no keys in --dump-config output" >&2; exit 1; }

{
    sed -n '1,/^\.\\" BEGIN KEYS/p' "$PAGE"
    cat "$tmp/keys"
    sed -n '/^\.\\" END KEYS/,$p' "$PAGE"
} > "$tmp/page"

if [ "$check" = 1 ]; then
    if cmp -s "$tmp/page" "$PAGE"; then exit 0; fi
    echo "gen-conf-man: $PAGE is out of date; run build-aux/gen-conf-man.sh" >&2
    diff -u "$PAGE" "$tmp/page" >&2 || true
    exit 1
fi
cat "$tmp/page" > "$PAGE"
