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
"$L" --help >"$T/tool.help" || fail "lienwatch --help failed"
CMDS=$(sed -n '/^COMMANDS$/,/^$/p' "$T/tool.help" | awk '/^    [a-z]/ && $1 != "help" {print $1}')
[ "$(wc -w <<<"$CMDS")" -ge 10 ] || fail "too few commands in --help: $CMDS"
for c in $CMDS; do
    "$L" help "$c" >"$T/$c.help" || fail "lienwatch help $c failed"
done
# every section of each help text (but NAME, whose words make the page's
# title, and the list of COMMANDS, which become subsections) is in the
# rendered page in one piece, blanks aside and "- " bullets set as bullets
$PY - "$T/page.txt" "$T/tool.help" $(for c in $CMDS; do echo "$T/$c.help"; done) <<'PY' ||
import re, sys
flat = lambda s: " ".join(s.split())
page_text = open(sys.argv[1]).read()
page = flat(page_text)
bad = 0
for path in sys.argv[2:]:
    sections, title = [], None
    for line in open(path).read().split("\n"):
        if line and not line.startswith(" "):
            title = line
            sections.append([title, []])
        elif sections:
            sections[-1][1].append(line)
    found = 0
    for title, lines in sections:
        # a "- " bullet is set as one
        body = flat("\n".join(re.sub(r"^(\s*)[-*] ", "\\1\u2022 ", l)
                              for l in lines))
        if title in ("NAME", "COMMANDS") or not body:
            continue
        found += 1
        if body not in page:
            print("%s: section %s is not in the page as in the help: %s"
                  % (path, title, body[:200]))
            bad += 1
    if found < 4:
        print("%s: only %d sections" % (path, found))
        bad += 1
for path in sys.argv[3:]:
    name = path.rsplit("/", 1)[1][:-len(".help")]
    if not re.search(r"^   %s \u2014 " % re.escape(name), page_text, re.M):
        print("no subsection for %s" % name)
        bad += 1
sys.exit(1 if bad else 0)
PY
    fail "the page lacks text of the help (see above)"
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
