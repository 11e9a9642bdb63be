#!/bin/bash
# test_users_cli.sh - 'lienwatch user', 'token' and 'case' as an operator
# types them:
#   - a password asked on the terminal (a pseudo-terminal here) twice, not
#     echoed; two that differ, or none typed, change nothing; no terminal
#     and no --password-file is a clear error; --password-file works;
#   - exit statuses: 0, 1 (refused), 2 (usage), 3 (not found);
#   - a token is printed once and is in the database only as its SHA-256;
#   - case open prints the id alone or {"case_id": N}; list --json;
#   - neither a password nor a token is in the audit trail, which records
#     every change and verifies.
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
command -v sqlite3 >/dev/null || skip "sqlite3 shell not installed"
lw_setup
DB="$T/lw.db"
lw() { "$L" --db "$DB" "$@"; }
# expect RC CMD...: runs CMD, output in $T/out and $T/err
expect() {
    local want=$1 rc=0
    shift
    "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?
    [ "$rc" = "$want" ] || fail "$*: exit $rc, expected $want: $(cat "$T/out" "$T/err")"
}

lw init-db > /dev/null || fail "init-db"

# ---- passwords on a terminal
# on_tty INPUT_LINES... -- ARGS: runs lienwatch ARGS on a pseudo-terminal,
# typing each input line when asked; the terminal's output in $T/tty, the
# exit status in $T/tty.rc
on_tty() {
    $PY - "$T/tty" "$@" <<'EOF'
import os, pty, sys, time
out, args = sys.argv[1], sys.argv[2:]
sep = args.index("--")
lines, cmd = args[:sep], args[sep + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(cmd[0], cmd)
seen = b""
def read_until(pat, limit=10):
    global seen
    end = time.time() + limit
    while pat not in seen and time.time() < end:
        try:
            d = os.read(fd, 1024)
        except OSError:
            break
        if not d:
            break
        seen += d
for i, line in enumerate(lines):
    read_until(b"password for" if i == 0 else b"Again:")
    os.write(fd, line.encode() + b"\n")
read_until(b"\0", 3)  # the rest, until it exits
_, st = os.waitpid(pid, 0)
open(out, "wb").write(seen)
open(out + ".rc", "w").write(str(os.waitstatus_to_exitcode(st)))
EOF
}
on_tty 'correct horse battery' 'correct horse battery' -- "$L" --db "$DB" --as admin1 user add maria --role agent
[ "$(cat "$T/tty.rc")" = 0 ] || fail "tty add: exit $(cat "$T/tty.rc"): $(cat "$T/tty")"
grep -q "New password for maria:" "$T/tty" || fail "no prompt: $(cat "$T/tty")"
grep -q "correct horse" "$T/tty" && fail "the password was echoed: $(cat "$T/tty")"
grep -q "user maria added, roles agent" "$T/tty" || fail "tty add: $(cat "$T/tty")"
on_tty 'first password' 'other password' -- "$L" --db "$DB" user add pete --role ops
[ "$(cat "$T/tty.rc")" = 1 ] || fail "differing passwords: exit $(cat "$T/tty.rc")"
grep -q "the two passwords differ; nothing changed" "$T/tty" || fail "differing: $(cat "$T/tty")"
on_tty 'short' 'short' -- "$L" --db "$DB" user passwd maria
[ "$(cat "$T/tty.rc")" = 1 ] || fail "short password: exit $(cat "$T/tty.rc")"
grep -q "at least 8 bytes" "$T/tty" || fail "short: $(cat "$T/tty")"
expect 1 lw user add pete --role ops
grep -q "no terminal to ask for the password on .*--password-file" "$T/err" || fail "no tty: $(cat "$T/err")"
expect 0 lw user list --json
$PY -c '
import json, sys
u = json.load(open(sys.argv[1]))
assert [x["name"] for x in u] == ["maria"], u
assert u[0]["roles"] == ["agent"] and u[0]["has_password"] and not u[0]["disabled"], u
' "$T/out" || fail "list after the refused ones: $(cat "$T/out")"

# ---- files, exit statuses
printf 'a long password\n' > "$T/pw"
expect 0 lw user add ops1 --role ops --role admin --password-file "$T/pw"
grep -qx "user ops1 added, roles ops,admin" "$T/out" || fail "add: $(cat "$T/out")"
lw user add disp --role ops --password-file - < "$T/pw" > "$T/out" 2>&1 ||
    fail "--password-file -: $(cat "$T/out")"
expect 1 lw user add ops1 --role ops --password-file "$T/pw"
grep -q "user ops1 exists already" "$T/err" || fail "exists: $(cat "$T/err")"
expect 2 lw user add 'x<y' --role ops --password-file "$T/pw"
expect 2 lw user add x --role root --password-file "$T/pw"
expect 2 lw user add x --password-file "$T/pw"
expect 1 lw user add x --role ops --password-file "$T/missing"
expect 3 lw user disable nobody
expect 0 lw user disable maria
expect 0 lw user disable maria
grep -q "(unchanged)" "$T/out" || fail "disable twice: $(cat "$T/out")"
expect 0 lw user enable maria
expect 0 lw user roles ops1 --role ops
grep -qx "user ops1: roles ops (was ops,admin)" "$T/out" || fail "roles: $(cat "$T/out")"
expect 0 lw user list
grep -q "^maria  *agent  *enabled  *set " "$T/out" || fail "list: $(cat "$T/out")"
for c in user token case command; do
    expect 0 lw "$c" --help
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do
        grep -q "^$s" "$T/out" || fail "$c --help has no $s"
    done
done
expect 2 lw user frobnicate

# ---- tokens
expect 0 lw token create servicing --role ops
TOKEN=$(cat "$T/out")
[[ "$TOKEN" =~ ^lwt_[A-Za-z0-9_-]{43}$ ]] || fail "token: '$TOKEN'"
grep -q "not shown again" "$T/err" || fail "token note: $(cat "$T/err")"
sqlite3 "$DB" "SELECT hash FROM tokens" > "$T/hashes"
want=$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
grep -qx "$want" "$T/hashes" || fail "the stored hash is not the token's SHA-256"
expect 1 lw token create servicing --role ops
expect 1 lw token create maria --role agent
expect 2 lw token create x --role admin
expect 0 lw token create tablet --role agent --expires 30d --json
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["name"]=="tablet" and d["roles"]=="agent" and d["token"].startswith("lwt_") and d["expires"], d' "$T/out" ||
    fail "create --json: $(cat "$T/out")"
TABLET=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/out")
expect 0 lw token revoke servicing
expect 3 lw token revoke servicing
expect 0 lw token list --json
$PY -c '
import json, sys
t = {x["name"]: x for x in json.load(open(sys.argv[1]))}
assert t["servicing"]["state"] == "revoked" and t["servicing"]["revoked"], t
assert t["tablet"]["state"] == "valid", t
assert all("token" not in x for x in t.values()), t
' "$T/out" || fail "token list: $(cat "$T/out")"

# ---- cases
lw --as ops1 account set A-1 --days-past-due 45 > /dev/null
lw --as ops1 vehicle set car/1 --account A-1 --plate 'HH-AB 12' > /dev/null
lw --as ops1 account set A-2 --days-past-due 0 > /dev/null
lw --as ops1 vehicle set car/2 --account A-2 > /dev/null
expect 0 lw case open car/1 --agent maria --expires 72h --reason 'order 113' --config /dev/null
[ "$(cat "$T/out")" = 1 ] || fail "case open: '$(cat "$T/out")'"
expect 0 lw case open hhab12 --agent tablet --expires 2h --reason 'order 114' --config /dev/null --json
$PY -c 'import json,sys; assert json.load(open(sys.argv[1])) == {"case_id": 2}' "$T/out" ||
    fail "case open --json: $(cat "$T/out")"
expect 1 lw case open car/1 --agent maria --expires 72h --reason again --config /dev/null
grep -q "maria has an open case for car/1 already: case 1" "$T/err" || fail "twice: $(cat "$T/err")"
expect 1 lw case open car/2 --agent maria --expires 72h --reason r --config /dev/null
grep -q "account A-2 of car/2 is not watched" "$T/err" || fail "unwatched: $(cat "$T/err")"
expect 1 lw case open car/1 --agent ops1 --expires 72h --reason r --config /dev/null
expect 3 lw case open car/1 --agent ghost --expires 72h --reason r --config /dev/null
expect 3 lw case open car/9 --agent maria --expires 72h --reason r --config /dev/null
expect 2 lw case open car/1 --agent maria --expires 91d --reason r --config /dev/null
expect 2 lw case open car/1 --agent maria --expires 72h --config /dev/null
expect 2 lw case open car/1 --agent maria --reason r --config /dev/null
# a threshold of 60 days from lienwatchd's configuration: not watched
printf '[alerts]\nwatch_days_past_due = 60\n' > "$T/d.conf"
expect 1 lw case open car/1 --agent tablet --expires 1h --reason r --config "$T/d.conf"
grep -q "threshold 60" "$T/err" || fail "threshold: $(cat "$T/err")"
expect 0 lw case close 1 --outcome recovered --note 'towed to lot 4'
expect 1 lw case close 1 --outcome cancelled
expect 3 lw case close 99 --outcome cancelled
expect 2 lw case close 2 --outcome expired
expect 2 lw case close x --outcome cancelled
expect 0 lw case list
grep -q "^ *2  car/1  *tablet  *open " "$T/out" || fail "case list: $(cat "$T/out")"
grep -q "^ *1 " "$T/out" && fail "case list shows a closed case: $(cat "$T/out")"
expect 0 lw case list --all --json
$PY -c '
import json, sys
c = {x["case_id"]: x for x in json.load(open(sys.argv[1]))}
assert c[1]["state"] == "recovered" and c[1]["note"] == "towed to lot 4", c
assert c[1]["closed"] and c[2]["closed"] is None and c[2]["agent"] == "tablet", c
assert c[2]["device"] == "car/1" and c[2]["reason"] == "order 114", c
' "$T/out" || fail "case list --all --json: $(cat "$T/out")"

# ---- the audit trail
sqlite3 "$DB" "SELECT action FROM audit ORDER BY id" > "$T/actions"
for a in "user add" "user disable" "user enable" "user roles" "token create" "token revoke" "case open" "case close"; do
    grep -qx "$a" "$T/actions" || fail "no '$a' in the audit trail"
done
[ "$(grep -cx 'user disable' "$T/actions")" = 1 ] || fail "a disable that changed nothing was recorded"
sqlite3 "$DB" "SELECT who, as_name FROM audit WHERE action = 'user add' ORDER BY id LIMIT 1" | grep -q '|admin1$' ||
    fail "--as not recorded"
sqlite3 "$DB" .dump > "$T/dump"
for secret in "correct horse" "a long password" "$TOKEN" "$TABLET"; do
    grep -qF -- "$secret" "$T/dump" && fail "'$secret' is in the database"
done
expect 0 lw audit verify
say "ok"
