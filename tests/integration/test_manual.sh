#!/bin/bash
# test_manual: lienwatch(1) is the CLI's own help, complete and clean.
#   - docs/man/lienwatch.1 is exactly what build-aux/gen-cli-man.py writes
#     from the built lienwatch ('make man' after a help text changed);
#   - it renders with "man -l --warnings" without a warning;
#   - every command 'lienwatch --help' lists has its subsection, and the
#     text of every section of 'lienwatch --help' and of each 'lienwatch
#     help COMMAND' (synopsis, description, options, exit status, examples)
#     is in the rendered page, in order, word for word: the generator loses
#     nothing;
#   - the generator refuses help text it cannot read (text outside a
#     section, a NAME line without " - ") and says where.
# Needs no shared data.
source "$(dirname "$0")/../lib.sh"
lw_setup

L=$BIN/lienwatch
GEN=$ROOT/build-aux/gen-cli-man.py
PAGE=$ROOT/docs/man/lienwatch.1
[ -x "$L" ] || fail "$L not built"
command -v man >/dev/null || skip "man (man-db) not installed"

# ---- the committed page is the generated one
"$GEN" --check "$L" "$PAGE" >"$T/check.out" 2>&1 || {
    head -40 "$T/check.out" >&2
    fail "docs/man/lienwatch.1 differs from the help texts: run 'make man'"
}
"$GEN" "$L" "$T/lienwatch.1" || fail "generator failed"
cmp -s "$PAGE" "$T/lienwatch.1" || fail "--check passed but the pages differ"

# ---- it renders cleanly
MANWIDTH=80 man -l --warnings "$PAGE" >"$T/page.txt" 2>"$T/page.err" ||
    fail "man -l failed: $(cat "$T/page.err")"
[ ! -s "$T/page.err" ] || fail "man -l --warnings: $(cat "$T/page.err")"

# ---- every word of the help is in the page
# flat FILE: the text of FILE on one line, blanks squeezed
flat() { tr -s ' \n\t' '   ' <"$1"; }
flat "$T/page.txt" >"$T/page.flat"
# in_page FILE WHAT: the sections of help text FILE (except NAME, whose
# words the page sets as its title) are in the page, each in one piece
in_page() {
    local file=$1 what=$2 title="" n=0
    : >"$T/sec"
    while IFS= read -r line || [ -n "$line" ]; do
        if [[ $line =~ ^[A-Z] ]]; then
            check_section "$title" "$what" && n=$((n + 1))
            title=$line
            : >"$T/sec"
        else
            printf '%s\n' "$line" >>"$T/sec"
        fi
    done <"$file"
    check_section "$title" "$what" && n=$((n + 1))
    [ "$n" -ge 4 ] || fail "$what: only $n sections found"
}
# check_section TITLE WHAT: $T/sec (TITLE's text) is in the page
check_section() {
    local body
    [ -n "$1" ] && [ "$1" != NAME ] && [ "$1" != COMMANDS ] || return 1
    body=$(flat "$T/sec" | sed 's/^ //; s/ $//')
    [ -n "$body" ] || return 1
    grep -qF -- "$body" "$T/page.flat" ||
        fail "$2: section $1 is not in the page as it is in the help: $body"
}

"$L" --help >"$T/tool.help" || fail "lienwatch --help failed"
in_page "$T/tool.help" "lienwatch --help"
CMDS=$(sed -n '/^COMMANDS$/,/^$/p' "$T/tool.help" | awk '/^    [a-z]/ && $1 != "help" {print $1}')
[ "$(wc -w <<<"$CMDS")" -ge 10 ] || fail "too few commands in --help: $CMDS"
for c in $CMDS; do
    grep -Eq "^   $c — " "$T/page.txt" || fail "no subsection for $c in the page"
    "$L" help "$c" >"$T/$c.help" || fail "lienwatch help $c failed"
    in_page "$T/$c.help" "lienwatch help $c"
done
grep -Eq '^   help — ' "$T/page.txt" || fail "no subsection for help"
say "page has all $(wc -w <<<"$CMDS") commands; every section of their help is in it"

# ---- help it cannot read is refused, with where
FAKE="$T/fake"
cat >"$FAKE" <<'EOF'
#!/bin/sh
case "$1" in
--version) echo "lienwatch 9.9.9" ;;
--help) printf 'NAME\n    lienwatch - x\n\nCOMMANDS\n    thing    does it\n' ;;
help) printf 'NAME\n    lienwatch thing - does it\nSYNOPSIS\n    lienwatch thing\nDESCRIPTION\n  two blanks only\n' ;;
esac
EOF
chmod +x "$FAKE"
if "$GEN" "$FAKE" "$T/fake.1" 2>"$T/fake.err"; then fail "text outside a section was accepted"; fi
grep -q "line 6: text outside a section" "$T/fake.err" || fail "no line number: $(cat "$T/fake.err")"
sed -i 's/lienwatch thing - does it/lienwatch thing does it/; s/  two blanks only/    fine/' "$FAKE"
if "$GEN" "$FAKE" "$T/fake.1" 2>"$T/fake.err"; then fail "a NAME without ' - ' was accepted"; fi
grep -q "NAME is not" "$T/fake.err" || fail "bad NAME not explained: $(cat "$T/fake.err")"
[ ! -e "$T/fake.1" ] || fail "a page was written from bad help"
say "ok"
