#!/bin/bash
# test_split_daemons.sh - the device set split across two lienwatchd on one
# broker, as ARCHITECTURE.md ("Growing past one machine") tells an operator
# to do it with configuration alone: disjoint topic filters (a shard level
# in the trackers' topics), one client id, database and output prefix per
# daemon.
#
# Checks: each database holds its own shard's devices only, under the same
# device ids as one daemon would give them (the '+' levels after the shard
# level); both daemons take every account; each daemon's retained status is
# its own; 'lienwatch locate' finds a vehicle by plate in its shard's
# database and not in the other; an alert raised in one shard comes out on
# that shard's prefix only.
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
[ -x "$L" ] && [ -x "$BIN/lienwatchd" ] || fail "binaries not built"
command -v mosquitto >/dev/null || skip "mosquitto not installed"
command -v mosquitto_pub >/dev/null || skip "mosquitto_pub not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 shell not installed"
lw_setup
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6

PORT=$(free_port)
start_mosquitto "$PORT"
# each shard's database, with its registry, made before its daemon starts
for s in a b; do
    "$L" init-db --db "$T/$s.db" >/dev/null || fail "init-db $s"
done
"$L" --db "$T/a.db" --as ops vehicle set alice/phone --plate 'A-1' --account ACC-A >/dev/null 2>&1 ||
    fail "vehicle set a"
"$L" --db "$T/b.db" --as ops vehicle set bob/phone --plate 'B-2' --account ACC-B >/dev/null 2>&1 ||
    fail "vehicle set b"
"$L" --db "$T/b.db" --as ops vehicle set truck7 --plate 'B-7' --offline-after $((2 * SLOW))s --account ACC-B \
    >/dev/null 2>&1 || fail "vehicle set truck7"
start_shard() { # NAME
    cat >"$T/$1.conf" <<EOF
[mqtt]
host = 127.0.0.1
port = $PORT
client_id = lienwatchd-$1
topic_owntracks = owntracks/$1/+/+
topic_fix = lienwatch/v1/fix/$1/+
topic_prefix = lienwatch/v1/$1
[store]
db = $T/$1.db
EOF
    lw_wrap "$BIN/lienwatchd" -c "$T/$1.conf" -v >>"$T/$1.log" 2>&1 &
    eval "PID_$1=\$!"
    lw_track "$!"
}
start_shard a
start_shard b
for s in a b; do
    wait_for $((20 * SLOW)) grep -q "subscribed to lienwatch/v1/account/+" "$T/$s.log" ||
        fail "daemon $s did not subscribe: $(tail -3 "$T/$s.log")"
done

# every alert of either shard, from now on (the first is awaited below)
mosquitto_sub -p "$PORT" -t 'lienwatch/v1/+/alert/#' -v -C 1 -W $((40 * SLOW)) >"$T/alert" 2>&1 &
SUB=$!
lw_track "$SUB"


tst=$(($(date +%s) - 30))
pub() { mosquitto_pub -p "$PORT" -q 1 "$@" || fail "mosquitto_pub $*"; }
loc() { echo "{\"_type\":\"location\",\"lat\":$1,\"lon\":$2,\"tst\":$3,\"acc\":10}"; }
pub -t owntracks/a/alice/phone -m "$(loc -10.91 -37.07 $tst)"
pub -t owntracks/b/bob/phone -m "$(loc -23.55 -46.63 $tst)"
pub -t lienwatch/v1/fix/b/truck7 -m "{\"class\":\"TPV\",\"mode\":3,\"time\":\"$(date -u -d @$tst +%Y-%m-%dT%H:%M:%S.000Z)\",\"lat\":48.1,\"lon\":11.5}"
# loan servicing publishes every account once; both daemons take it
pub -r -t lienwatch/v1/account/ACC-A -m '{"days_past_due": 40, "status": "overdue"}'
pub -r -t lienwatch/v1/account/ACC-B -m '{"days_past_due": 50, "status": "overdue"}'

devices() { sqlite3 "$1" "SELECT group_concat(id, ' ') FROM (SELECT id FROM devices ORDER BY id)"; }
# is FUNC VALUE ARGS...: FUNC ARGS prints VALUE (wait_for runs it again each
# time; a $(...) argument would be evaluated once, before the first try)
is() { [ "$($1 "${@:3}")" = "$2" ]; }
wait_for $((10 * SLOW)) is devices "alice/phone" "$T/a.db" ||
    fail "shard a holds: $(devices "$T/a.db")"
wait_for $((10 * SLOW)) is devices "bob/phone truck7" "$T/b.db" ||
    fail "shard b holds: $(devices "$T/b.db")"
accounts() { sqlite3 "$1" "SELECT group_concat(id, ' ') FROM (SELECT id FROM accounts ORDER BY id)"; }
for s in a b; do
    wait_for $((10 * SLOW)) is accounts "ACC-A ACC-B" "$T/$s.db" ||
        fail "shard $s accounts: $(accounts "$T/$s.db")"
done
say "each database holds its shard's devices, every account"

# each daemon's retained status is its own
for s in a b; do
    st=$(mosquitto_sub -p "$PORT" -t "lienwatch/v1/$s/daemon" -C 1 -W 15) ||
        fail "no status on lienwatch/v1/$s/daemon"
    echo "$st" | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["state"]=="online", d' ||
        fail "status of $s: $st"
done

# an agent asks the shard that holds the vehicle
"$L" --db "$T/a.db" --as agent locate 'a 1' >"$T/out" 2>&1 || fail "locate in a: $(cat "$T/out")"
grep -q "device      alice/phone" "$T/out" || fail "locate in a: $(cat "$T/out")"
rc=0; "$L" --db "$T/b.db" --as agent locate 'a 1' >"$T/out" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "shard b found shard a's plate (exit $rc): $(cat "$T/out")"

# truck7 falls silent in shard b: its alert comes out on b's prefix only
wait "$SUB" || fail "no alert published: $(cat "$T/alert"); $(tail -5 "$T/b.log")"
lw_untrack "$SUB"
grep -q '^lienwatch/v1/b/alert/truck7 {' "$T/alert" || fail "alert topic: $(cat "$T/alert")"
[ "$(sqlite3 "$T/b.db" "SELECT kind FROM alerts WHERE device = 'truck7'")" = offline ] ||
    fail "shard b's alerts: $(sqlite3 "$T/b.db" 'SELECT kind, device FROM alerts')"
[ "$(sqlite3 "$T/a.db" 'SELECT count(*) FROM alerts')" = 0 ] || fail "shard a raised alerts"
say "an alert of shard b on lienwatch/v1/b only"

stop_checked "$PID_a" "lienwatchd a"
stop_checked "$PID_b" "lienwatchd b"
say "ok"
