#!/bin/bash
# test_access_gate.sh - a position is shown only on a recorded basis, with a
# real lienwatchd (and mosquitto) on the same database:
#   - lienwatchd records watch_days_past_due and unwatched_access in the
#     database at start and on SIGHUP; the CLI applies them (not its own
#     default, nor a file it cannot read);
#   - locate, history and evidence of a watched vehicle: answered, audit
#     basis "watched"; of one not watched (current, or paid off whatever
#     its days past due, or unregistered): exit 4 with a message saying
#     why and nothing on stdout, the attempt recorded (basis "refused");
#     with --reason: answered, basis "override", the reason recorded;
#   - unwatched_access = deny: refused even with a reason; = allow: basis
#     "unwatched_allowed";
#   - a lookup whose audit record cannot be written is not answered (exit
#     1, nothing on stdout): the audit table refusing inserts, the database
#     on a read-only mount, the database on a full file system (the last
#     two need a private mount namespace: unshare -rm).
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
D="$BIN/lienwatchd"
[ -x "$D" ] || fail "$D not built"
command -v mosquitto >/dev/null || skip "mosquitto not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 shell not installed"
lw_setup
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
DB="$T/lw.db"
PORT=$(free_port)
start_mosquitto "$PORT"

run() {
    local want=$1 rc=0
    shift
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" != "$want" ]; then
        say "stdout:"; cat "$T/out" >&2; say "stderr:"; cat "$T/err" >&2
        fail "exit $rc, wanted $want: $*"
    fi
}
lw() { run "$1" "$L" --db "$DB" --as ops1 "${@:2}"; }
has() { grep -qF -- "$1" "$T/out" || { cat "$T/out" >&2; fail "output lacks: $1"; }; }
err_has() { grep -qF -- "$1" "$T/err" || { cat "$T/err" >&2; fail "stderr lacks: $1"; }; }
out_empty() { [ ! -s "$T/out" ] || { cat "$T/out" >&2; fail "stdout not empty"; }; }
# action|device|reason|basis of the last audit record
last_audit() { sqlite3 "$DB" "SELECT action || '|' || coalesce(device, '') || '|' || coalesce(reason, '') || '|' || coalesce(basis, '') FROM audit ORDER BY id DESC LIMIT 1"; }
audit_is() { [ "$(last_audit)" = "$1" ] || fail "last audit record: '$(last_audit)', wanted '$1'"; }
naudit() { sqlite3 "$DB" "SELECT count(*) FROM audit"; }

run 0 "$L" init-db --db "$DB"
lw 0 account set ACC-W --days-past-due 45 --status overdue
lw 0 account set ACC-C --days-past-due 0 --status current
lw 0 account set ACC-P --days-past-due 60 --status paid_off
lw 0 vehicle set late/car --plate 'W-1' --account ACC-W
lw 0 vehicle set paying/car --plate 'C-1' --account ACC-C
lw 0 vehicle set paid/car --plate 'P-1' --account ACC-P
now=$(date +%s)
ms() { echo $(( (now - $1) * 1000 )); }
sqlite3 "$DB" <<SQL
INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count,
    last_fix_time_ms, last_recv_time_ms, last_lat_deg, last_lon_deg) VALUES
    ('late/car', $(ms 900), $(ms 60), 2, $(ms 60), $(ms 59), 52.5, 13.4),
    ('paying/car', $(ms 900), $(ms 60), 2, $(ms 60), $(ms 59), 48.1, 11.5),
    ('paid/car', $(ms 900), $(ms 60), 2, $(ms 60), $(ms 59), 50.1, 8.6),
    ('stray/tracker', $(ms 900), $(ms 60), 2, $(ms 60), $(ms 59), 40.4, -3.7);
INSERT INTO fix_history (device, fix_time_ms, recv_time_ms, lat_deg, lon_deg)
    SELECT id, $(ms 600), $(ms 599), last_lat_deg - 0.01, last_lon_deg FROM devices;
INSERT INTO fix_history (device, fix_time_ms, recv_time_ms, lat_deg, lon_deg)
    SELECT id, last_fix_time_ms, last_recv_time_ms, last_lat_deg, last_lon_deg FROM devices;
SQL

# ---- lienwatchd records its threshold and policy ----
printf '[alerts]\nwatch_days_past_due = 30\n[privacy]\nunwatched_access = reason\n' >"$T/d.conf"
"$D" -c "$T/d.conf" --db "$DB" --mqtt-port "$PORT" --set mqtt.client_id=lw-gate \
    -v >"$T/d.log" 2>&1 &
DPID=$!
lw_track "$DPID"
meta() { sqlite3 "$DB" "SELECT value FROM meta WHERE key = '$1'"; }
meta_is() { [ "$(meta "$1")" = "$2" ]; }
wait_for $((10 * SLOW)) meta_is daemon.watch_days_past_due 30 ||
    fail "lienwatchd did not record watch_days_past_due: '$(meta daemon.watch_days_past_due)'"
[ "$(meta daemon.unwatched_access)" = reason ] || fail "unwatched_access: $(meta daemon.unwatched_access)"

# ---- watched: answered on the watch ----
lw 0 locate late/car --json
$PY -c "import json; d=json.load(open('$T/out')); assert d['watched'] is True and d['watch_days_past_due'] == 30 and d['lat'] == 52.5, d" ||
    fail "locate late/car: $(cat "$T/out")"
audit_is "locate|late/car||watched"
lw 0 history W-1
[ "$(wc -l <"$T/out")" = 3 ] || fail "history late/car: $(cat "$T/out")"
audit_is "history|late/car||watched"

# ---- not watched: refused without a reason, exit 4, on the record ----
for v in paying/car C-1 paid/car stray/tracker; do
    n=$(naudit)
    lw 4 locate "$v"
    out_empty
    err_has "is not watched"
    err_has "--reason TEXT"
    [ "$(naudit)" = $((n + 1)) ] || fail "refused locate of $v not recorded"
    lw 4 history "$v"
    out_empty
done
lw 4 locate paid/car
err_has "account ACC-P 60 days past due, paid_off"
audit_is "locate|paid/car||refused"
lw 4 locate paying/car --json
out_empty
# an empty reason is none
lw 4 locate paying/car --reason ''

# ---- with a reason: answered, recorded as an override ----
lw 0 locate paying/car --reason 'customer called: car stolen, ticket 88'
has "position    48.100000, 11.500000"
has "watched     no"
audit_is "locate|paying/car|customer called: car stolen, ticket 88|override"
lw 0 history paid/car --reason 'payoff dispute 12' --format json
audit_is "history|paid/car|payoff dispute 12|override"
lw 0 locate stray/tracker --reason 'which car is this?'
audit_is "locate|stray/tracker|which car is this?|override"
# what the decision rested on is in the record
d=$(sqlite3 "$DB" "SELECT detail FROM audit ORDER BY id DESC LIMIT 1")
case "$d" in *"not registered; watched from 30 days past due; unwatched_access reason"*) ;;
    *) fail "audit detail: $d" ;; esac

# ---- evidence follows the same rule ----
run 0 "$L" evidence keygen "$T/ev.key"
lw 0 evidence late/car --from 1d --to 0s --reason 'court order 1' --out "$T/b1" --key "$T/ev.key"
audit_is "evidence|late/car|court order 1|watched"
lw 0 evidence paying/car --from 1d --to 0s --reason 'court order 2' --out "$T/b2" --key "$T/ev.key"
audit_is "evidence|paying/car|court order 2|override"

# ---- SIGHUP: deny, then allow ----
printf '[alerts]\nwatch_days_past_due = 30\n[privacy]\nunwatched_access = deny\n' >"$T/d.conf"
kill -HUP "$DPID"
wait_for $((10 * SLOW)) meta_is daemon.unwatched_access deny ||
    fail "unwatched_access after SIGHUP: $(meta daemon.unwatched_access)"
lw 4 locate paying/car --reason 'just curious'
out_empty
err_has "unwatched_access is 'deny'"
audit_is "locate|paying/car|just curious|refused"
lw 4 evidence paying/car --from 1d --to 0s --reason 'court order 3' --out "$T/b3" --key "$T/ev.key"
[ ! -e "$T/b3/MANIFEST" ] || fail "a denied bundle was written"
lw 0 locate late/car
audit_is "locate|late/car||watched"
printf '[alerts]\nwatch_days_past_due = 50\n[privacy]\nunwatched_access = allow\n' >"$T/d.conf"
kill -HUP "$DPID"
wait_for $((10 * SLOW)) meta_is daemon.unwatched_access allow ||
    fail "unwatched_access after the second SIGHUP: $(meta daemon.unwatched_access)"
[ "$(meta daemon.watch_days_past_due)" = 50 ] || fail "threshold after SIGHUP: $(meta daemon.watch_days_past_due)"
# 45 days past due is under 50 now: not watched, allowed and recorded so
lw 0 locate late/car --json
$PY -c "import json; d=json.load(open('$T/out')); assert d['watched'] is False and d['watch_days_past_due'] == 50, d" ||
    fail "locate late/car at 50: $(cat "$T/out")"
audit_is "locate|late/car||unwatched_allowed"
stop_checked "$DPID" lienwatchd

# ---- no record, no answer ----
# the audit table refuses inserts (as a failing disk would)
sqlite3 "$DB" "CREATE TRIGGER test_refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused for the test'); END;"
lw 1 locate late/car
out_empty
err_has "could not be recorded in the audit trail, so it is not answered"
err_has "audit refused for the test"
lw 1 history late/car
out_empty
lw 1 locate paying/car --reason 'ticket 9'
out_empty
sqlite3 "$DB" "DROP TRIGGER test_refuse"
lw 0 locate late/car

# a read-only mount and a full file system (private mount namespace)
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
    unshare -rm true 2>/dev/null; then
    mkdir -p "$T/ro" "$T/full"
    sqlite3 "$DB" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
    cp "$DB" "$T/ro/lw.db"
    n=$(sqlite3 "$T/ro/lw.db" "SELECT count(*) FROM audit")
    rc=0
    unshare -rm sh -c 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" &&
        exec "$2" --db "$1/lw.db" locate late/car' sh "$T/ro" "$L" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = 1 ] || { cat "$T/err" >&2; fail "read-only database: exit $rc, wanted 1"; }
    out_empty
    [ "$(sqlite3 "$T/ro/lw.db" "SELECT count(*) FROM audit")" = "$n" ] || fail "read-only: audit changed"
    # a full file system: the database fits, the next page does not
    rc=0
    unshare -rm sh -c 'mount -t tmpfs -o size=4m tmpfs "$1" && cp "$2" "$1/lw.db" &&
        "$3" --db "$1/lw.db" locate late/car >/dev/null 2>&1 &&
        { dd if=/dev/zero of="$1/fill" bs=4k 2>/dev/null || true; } &&
        exec "$3" --db "$1/lw.db" locate late/car' sh "$T/full" "$T/ro/lw.db" "$L" \
        >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = 1 ] || { cat "$T/out" "$T/err" >&2; fail "full disk: exit $rc, wanted 1"; }
    out_empty
    err_has "not answered"
else
    say "no private mount namespace: read-only mount and full disk cases skipped"
fi

# ---- help and the manual ----
run 0 "$L" help locate
has "--reason TEXT"
has "4 "
run 0 "$L" help history
has "4 "
say "ok"
