#!/bin/bash
# test_audit_chain.sh - the tamper-evident audit trail through the real
# 'lienwatch' command on a real database file:
#   - who: the operating-system account, --as beside it, a differing real
#     uid and SUDO_USER recorded as more detail, never instead;
#   - 100,000 mixed records (lw-auditbench --fill, through the library's
#     append) plus the CLI's own: 'audit verify' passes, prints the head,
#     and an independent implementation of the documented encoding
#     (audit_chain.py, Python's hashlib) agrees record for record;
#   - the triggers refuse UPDATE and DELETE;
#   - with the triggers dropped first, as someone holding the file would:
#     a record changed, removed, inserted (the records after it renumbered),
#     reordered, and records removed from the end each make 'audit verify'
#     exit 1 naming the right record; removal from the end and a chain
#     recomputed after a change pass alone and fail against the head printed
#     before;
#   - verify --json, a bad --head, help.
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
FILL="$BIN/lw-auditbench"
[ -x "$L" ] || fail "$L not built"
[ -x "$FILL" ] || fail "$FILL not built"
command -v sqlite3 >/dev/null || skip "sqlite3 shell not installed"
lw_setup
DB="$T/lw.db"
ME=$(id -un)
# fewer records under valgrind, the same checks
N=${LW_AUDIT_RECORDS:-100000}
[ "${LW_VALGRIND:-0}" = 1 ] && N=${LW_AUDIT_RECORDS:-5000}

run() {
    local want=$1 rc=0
    shift
    (lw_wrap "$@") >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" != "$want" ]; then
        say "stdout:"; head -20 "$T/out" >&2; say "stderr:"; head -20 "$T/err" >&2
        fail "exit $rc, wanted $want: $*"
    fi
}
has() { grep -qF -- "$1" "$T/out" || fail "output lacks '$1': $(head -5 "$T/out")"; }
q() { sqlite3 "$1" "$2"; }

run 0 "$L" init-db --db "$DB"

# ---- who ----
run 0 "$L" --db "$DB" --as 'Ann Agent' vehicle set car/1 --plate 'AB-1'
[ "$(q "$DB" "SELECT who || '|' || as_name || '|' || via FROM audit ORDER BY id DESC LIMIT 1")" = "$ME|Ann Agent|cli" ] ||
    fail "who/as: $(q "$DB" "SELECT * FROM audit ORDER BY id DESC LIMIT 1")"
# $USER is whatever anyone sets: never taken
USER=mallory LOGNAME=mallory run 0 "$L" --db "$DB" account set ACC-1 --days-past-due 3
[ "$(q "$DB" "SELECT who || '|' || coalesce(as_name, '-') FROM audit ORDER BY id DESC LIMIT 1")" = "$ME|-" ] ||
    fail "USER was taken for who"
SUDO_USER=alice run 0 "$L" --db "$DB" account set ACC-1 --days-past-due 4
[ "$(q "$DB" "SELECT who || '|' || os_detail FROM audit ORDER BY id DESC LIMIT 1")" = "$ME|SUDO_USER=alice" ] ||
    fail "SUDO_USER: $(q "$DB" "SELECT * FROM audit ORDER BY id DESC LIMIT 1")"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    # a real uid that differs from the effective one (setuid, su)
    setpriv --ruid 65534 "$L" --db "$DB" account set ACC-1 --days-past-due 5 >/dev/null ||
        fail "setpriv run failed"
    q "$DB" "SELECT os_detail FROM audit ORDER BY id DESC LIMIT 1" | grep -q '^real uid 65534 ' ||
        fail "real uid: $(q "$DB" "SELECT * FROM audit ORDER BY id DESC LIMIT 1")"
    [ "$(q "$DB" "SELECT who FROM audit ORDER BY id DESC LIMIT 1")" = "$ME" ] || fail "who under setpriv"
fi
run 2 "$L" --db "$DB" --as $'bad\tname' vehicle list
run 3 "$L" --db "$DB" locate car/1 --reason 'order 7' # recorded, never heard

# ---- many records; an untouched trail passes ----
ms() { echo $(( $(date +%s%N) / 1000000 )); }
start=$(ms)
"$FILL" --fill "$N" --db "$DB" >"$T/fill" || fail "lw-auditbench --fill failed"
say "filled $N records in $(( $(ms) - start )) ms"
total=$(q "$DB" "SELECT count(*) FROM audit")
[ "$total" -ge "$N" ] || fail "only $total records"
start=$(ms)
run 0 "$L" --db "$DB" audit verify
say "verified $total records in $(( $(ms) - start )) ms"
has "audit trail intact: $total records"
HEAD=$(sed -n 's/^head: //p' "$T/out")
[ "$HEAD" = "$(cat "$T/fill")" ] || fail "head $HEAD is not the last record written ($(cat "$T/fill"))"
[ "$(q "$DB" "SELECT id || ':' || hash FROM audit ORDER BY id DESC LIMIT 1")" = "$HEAD" ] ||
    fail "printed head is not the last record"
# an auditor's own implementation of the documented encoding agrees
$PY "$ROOT/tests/integration/audit_chain.py" verify "$DB" >"$T/py" || fail "audit_chain.py: $(cat "$T/py")"
[ "$(cat "$T/py")" = "intact $total $HEAD" ] || fail "audit_chain.py says $(cat "$T/py")"
run 0 "$L" --db "$DB" audit verify --head "$HEAD"
has "the given head is in the chain"
run 0 "$L" --db "$DB" audit verify --head "${HEAD#*:}"
has "found by its hash"
run 0 "$L" --db "$DB" audit verify --json
$PY -c "
import json, sys
d = json.load(open('$T/out'))
assert d['intact'] is True and d['problem'] == 'intact' and d['records'] == $total, d
assert '%d:%s' % (d['head']['id'], d['head']['hash']) == '$HEAD', d
assert d['guarded'] is True, d" || fail "verify --json"
run 2 "$L" --db "$DB" audit verify --head 12:nothex
grep -q "is not a head" "$T/err" || fail "bad --head message: $(cat "$T/err")"

# ---- the triggers ----
sqlite3 "$DB" "UPDATE audit SET reason = 'forged' WHERE id = 2" 2>"$T/sqlerr" &&
    fail "UPDATE on audit succeeded"
grep -q "never changed" "$T/sqlerr" || fail "UPDATE refusal: $(cat "$T/sqlerr")"
sqlite3 "$DB" "DELETE FROM audit WHERE id = 2" 2>"$T/sqlerr" && fail "DELETE on audit succeeded"
grep -q "never deleted" "$T/sqlerr" || fail "DELETE refusal: $(cat "$T/sqlerr")"
sqlite3 "$DB" "INSERT INTO audit (at_ms, who, action) VALUES (1, 'x', 'locate')" 2>"$T/sqlerr" &&
    fail "an unchained INSERT succeeded"

# ---- tampering, on copies, triggers dropped first ----
# copy NAME SQL...: a copy of the database as an attacker leaves it
copy() {
    local c="$T/$1.db"
    shift
    rm -f "$c"
    sqlite3 "$DB" "VACUUM INTO '$c'"
    sqlite3 "$c" "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;
                  DROP TRIGGER audit_chained; $*" || fail "tampering $c"
    echo "$c"
}
# expect_bad DB ID PROBLEM [--head H]: verify exits 1 naming record ID
expect_bad() {
    local db=$1 id=$2 what=$3
    shift 3
    run 1 "$L" --db "$db" audit verify "$@"
    has "audit trail NOT intact"
    has "first bad record: $id ($what)"
    grep -q "triggers that refuse" "$T/err" || fail "no warning on dropped triggers"
}
M=$((total / 2))
c=$(copy changed "UPDATE audit SET reason = 'forged' WHERE id = $M")
expect_bad "$c" "$M" changed
has "record $M was changed"
$PY "$ROOT/tests/integration/audit_chain.py" verify "$c" >"$T/py" && fail "audit_chain.py passed a change"
[ "$(cat "$T/py")" = "bad $M" ] || fail "audit_chain.py: $(cat "$T/py")"

c=$(copy removed "DELETE FROM audit WHERE id = $M")
expect_bad "$c" "$((M + 1))" removed
has "record $M was removed"

c=$(copy inserted "UPDATE audit SET id = -id WHERE id >= $M;
                   UPDATE audit SET id = 1 - id WHERE id < 0;
                   INSERT INTO audit (id, at_ms, who, action, device, reason, hash)
                   SELECT $M, at_ms, who, 'locate', 'car/1', 'never happened', hash
                   FROM audit WHERE id = $((M - 1))")
expect_bad "$c" "$M" inserted
has "record $M was inserted"

A=$((total / 4)) B=$((total * 3 / 4))
c=$(copy reordered "UPDATE audit SET id = -1 WHERE id = $A;
                    UPDATE audit SET id = $A WHERE id = $B;
                    UPDATE audit SET id = $B WHERE id = -1")
expect_bad "$c" "$A" reordered
has "belongs just before record $((B + 1))"

# records removed from the end: a shorter chain, consistent alone ...
c=$(copy truncated "DELETE FROM audit WHERE id > $((total - 10))")
run 0 "$L" --db "$c" audit verify
has "head: $((total - 10)):"
# ... but not against the head printed (or published) before
run 1 "$L" --db "$c" audit verify --head "$HEAD"
has "audit trail NOT intact: the trail ends at record $((total - 10)), before the expected head $total"
has "problem: head missing"

# a change with the chain recomputed after it, by the documented encoding
c=$(copy forged "UPDATE audit SET reason = 'forged' WHERE id = $M")
$PY "$ROOT/tests/integration/audit_chain.py" forge "$c" "$M" || fail "forging"
run 0 "$L" --db "$c" audit verify
run 1 "$L" --db "$c" audit verify --head "$HEAD"
has "problem: head differs"
has "record $total has hash"

# ---- the listing and help ----
run 0 "$L" --db "$DB" audit --device car/1
has "Ann Agent"
run 0 "$L" help audit
for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "audit verify" "--head"; do has "$s"; done
say "ok"
